"""The one error type of devnet commands and the scenario API."""

from __future__ import annotations


class DevnetError(Exception):
    """A devnet command cannot do what was asked; the message says why and what to do."""
