"""Fixtures shared by the contract tests."""

import pytest

from tests.vm.lending_world import World, make_world
from tests.vm.swap_world import setup_env


@pytest.fixture
def w() -> World:
    """A lending world: two tokens, an oracle with fresh prices, the market and funded users."""
    return make_world()


@pytest.fixture
def env():
    """A Swap world: the Swap, three tokens sorted by address, three funded users who approved the Swap."""
    return setup_env()
