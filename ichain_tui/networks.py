"""Provides the network presets a new user chooses from (the TUI's connect dialog) and what each
needs next: where its node is, and how an address there gets ETH.

A preset only fills the settings `network` and `chain_id`; nothing here contacts a node."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NetworkPreset:
    key: str
    label: str
    url: str  # what `network` is set to ("" : the user gives the URL)
    chain_id: int | None  # pinned: a node answering another chain id is refused
    start: str  # how to have a node to connect to
    funds: str  # how an address gets ETH there ({address} is filled in)


PRESETS = (
    NetworkPreset(
        "local",
        "Local devnet (anvil on 127.0.0.1:8545)",
        "local",
        31337,
        "start one in another terminal: ichain devnet   (then, once: ichain chain fund; ichain chain deploy)",
        "ichain chain fund {address}   (ETH from the devnet's own accounts)",
    ),
    NetworkPreset(
        "sepolia",
        "Sepolia testnet (your JSON-RPC URL)",
        "",
        11155111,
        "paste an https:// JSON-RPC URL of a Sepolia node (your own, or a provider's with your key)",
        "send Sepolia test ETH to {address} from a Sepolia faucet",
    ),
    NetworkPreset(
        "custom",
        "Any chain by JSON-RPC URL",
        "",
        None,
        "paste the node's http(s):// JSON-RPC URL (and the market's address if none is recorded)",
        "on a development chain: ichain chain fund {address}; otherwise the network's faucet",
    ),
)


def preset(key: str) -> NetworkPreset:
    return next(p for p in PRESETS if p.key == key)


def preset_for(network: str, chain_id: int | None) -> NetworkPreset:
    """The preset the current settings correspond to (custom for any other URL)."""
    for p in PRESETS:
        if p.url and p.url == network:
            return p
    if chain_id is not None:
        for p in PRESETS:
            if not p.url and p.chain_id == chain_id:
                return p
    return preset("custom")
