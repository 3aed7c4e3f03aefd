"""Provides the paths of files that ship with the app — the compiled contracts and the example
tasks — inside the installed package (a wheel puts them under `ichain_tui/contracts` and
`ichain_tui/examples`) or, in a source checkout, at `contracts/build` and `examples`."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
CHECKOUT = PACKAGE.parent


def contracts_dir() -> Path:
    inside = PACKAGE / "contracts"
    return inside if inside.is_dir() else CHECKOUT / "contracts" / "build"


def examples_dir() -> Path:
    """The folder holding `tasks/<name>/` example task folders."""
    inside = PACKAGE / "examples"
    return inside if inside.is_dir() else CHECKOUT / "examples"


def from_checkout() -> bool:
    """True when running from a source checkout (where ./install.sh is), not from a wheel."""
    return not (PACKAGE / "contracts").is_dir() and (CHECKOUT / "install.sh").is_file()
