"""Fixtures shared by the contract tests."""

import pytest

from tests.vm.lending_world import World, make_world


@pytest.fixture
def w() -> World:
    """A lending world: two tokens, an oracle with fresh prices, the market and funded users."""
    return make_world()
