"""iChain TUI: a peer-to-peer machine-learning compute market on Ethereum, in the terminal."""

__version__ = "0.1.0"
