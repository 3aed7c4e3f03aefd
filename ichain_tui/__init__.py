"""iChain TUI: a peer-to-peer machine-learning compute market on Ethereum, in the terminal."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ichain-tui")  # one place: pyproject.toml
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0+unknown"
