"""The standard contracts: Token, Oracle, Swap and Lending, as contract source (not imported as Python)."""

from importlib import resources


def source(name: str) -> str:
    """The source of the standard contract `name` (token, oracle, swap, lending)."""
    return resources.files(__name__).joinpath(f"{name}.py").read_text()
