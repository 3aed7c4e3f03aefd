"""Provides `open_chain`: the node connection the settings describe — the endpoint and its
fallbacks, how long a request is retried, the fee cap, the confirmations agents wait for, and the
transaction journal under the data folder. The CLI, the TUI session and the agents all connect
through it, so a setting means the same everywhere."""

from __future__ import annotations

from . import locations
from .chain.network import Chain, connect
from .chain.txjournal import TxJournal
from .config import Settings


def open_chain(settings: Settings) -> Chain:
    fallbacks = [url.strip() for url in settings.rpc_fallbacks.split(",") if url.strip()]
    chain = connect(
        settings.network, settings.chain_id, fallbacks=fallbacks, patience=settings.rpc_patience_s
    )
    configure(chain, settings)
    return chain


def configure(chain: Chain, settings: Settings) -> None:
    """Apply the settings to a chain connected elsewhere (the demo's, a test's)."""
    if settings.fee_cap_wei is not None:
        chain.fee_cap = settings.fee_cap_wei
    if settings.confirmations is not None:
        chain.confirmations = max(0, int(settings.confirmations))
    chain.tx_journal = TxJournal(locations.journal_dir() / f"tx-{chain.chain_id}")
