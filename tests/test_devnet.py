"""The local anvil devnet cleans up after itself: its persisted states live in a folder of its
own, bounded, removed on stop; folders of processes that died are swept at the next start
(anvil's default, ~/.foundry/anvil/tmp, once filled this machine's disk)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ichain_tui.chain.devnet import CACHE_PREFIX, MAX_PERSISTED_STATES, Devnet
from ichain_tui.chain.network import connect


def test_a_devnet_keeps_old_states_in_its_own_bounded_folder_and_removes_it():
    stale = Path(tempfile.gettempdir()) / f"{CACHE_PREFIX}999999-left"
    stale.mkdir(exist_ok=True)
    with Devnet() as devnet:
        cache = devnet._cache
        assert cache is not None and cache.is_dir() and not stale.exists()
        args = Path(f"/proc/{devnet.process.pid}/cmdline").read_bytes().split(b"\0")
        assert args[args.index(b"--cache-path") + 1] == str(cache).encode()
        assert args[args.index(b"--max-persisted-states") + 1] == str(MAX_PERSISTED_STATES).encode()
        assert connect(devnet.url).chain_id == 31337
    assert not cache.exists()
