"""The Transfers tab against a stream of known rate: a real chunk server throttled to 1 MiB/s
sends a one-chunk file to a real fetcher (one connection: 1 MiB/s); the download and the upload
group each show a rate within 20 % of it while it moves, then fold into one line; a task's
transfers go when the task is over."""

from __future__ import annotations

import re
import threading

from textual.app import App, ComposeResult
from transfer_helpers import random_folder
from tui_screens import wait_for

from ichain_tui.transfer.fetcher import Fetcher
from ichain_tui.transfer.locator import FileRef
from ichain_tui.transfer.manifest import seal_folder
from ichain_tui.transfer.server import ChunkServer
from ichain_tui.tui.screens.transfers import TransfersPane

MIB = 1 << 20
PER_CONNECTION = MIB


class PaneApp(App):
    def compose(self) -> ComposeResult:
        yield TransfersPane()


def shown_rate(pane: TransfersPane, direction: str) -> float:
    """The rate the header of the transfer in `direction` shows, in MiB/s."""
    transfer = next(t for t in pane.transfers.values() if t.direction == direction)
    text = str(pane._heads[transfer.key].render())
    value, unit = re.search(r"· ([\d.]+) (B|KiB|MiB)/s", text).groups()
    return float(value) * {"B": 1, "KiB": 1024, "MiB": MIB}[unit] / MIB


async def test_the_rate_shown_is_the_streams_rate_within_20_percent_both_ways(tmp_path):
    sealed = seal_folder(random_folder(tmp_path / "task", 5, files=2), tmp_path / "sealed", chunks=1)
    assert len(sealed.manifest.chunks) == 1
    app = PaneApp()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(TransfersPane)
        pane.name_transfer(sealed.root, "task 7 · result from its host", "down", 7)
        pane.name_transfer(sealed.root, "task 7 · task files to the provider", "up", 7)
        server = ChunkServer(throttle_bps=PER_CONNECTION).start()
        server.on_progress(lambda p: app.call_from_thread(pane.update_chunk, p))
        server.add(sealed)
        ref = FileRef(sealed.root, sealed.key, "direct", server.address)
        done = threading.Event()

        def fetch() -> None:
            try:
                Fetcher(workers=1).fetch(
                    ref,
                    tmp_path / "out",
                    tmp_path / "work",
                    progress=lambda p: app.call_from_thread(pane.update_chunk, p),
                )
            finally:
                done.set()

        worker = threading.Thread(target=fetch, daemon=True)
        worker.start()
        try:
            expected = PER_CONNECTION / MIB

            def near(direction: str) -> bool:
                try:
                    return abs(shown_rate(pane, direction) - expected) <= 0.2 * expected
                except (AttributeError, StopIteration):  # no header or no rate shown yet
                    return False

            # the 3 s window fills from the transfer's first byte, which a loaded machine delays:
            # the rates must reach the stream's while it moves (it ends after about 5 s)
            await pilot.pause(2.5)
            await wait_for(pilot, lambda: not done.is_set() and near("down") and near("up"), 5, "the rates")
            assert not done.is_set(), [shown_rate(pane, d) for d in ("down", "up")]
            heads = {str(pane._heads[k].render()) for k in pane.transfers}
            assert any(h.startswith("↓ task 7 · result") and "ETA" in h for h in heads)
            assert any(h.startswith("↑ task 7 · task files") for h in heads)
            await wait_for(pilot, done.is_set, 20, "the fetch")
            await wait_for(pilot, lambda: all(t.finished for t in pane.transfers.values()), 5, "folding")
            assert not pane._rows  # folded: no chunk rows left
            assert all(" · done" in str(pane._heads[k].render()) for k in pane.transfers)
            assert (tmp_path / "out").is_dir()

            pane.clear_task(7)
            await pilot.pause()
            assert not pane.transfers
            assert "2 transfer(s) done" in str(pane.query_one("#total").render())
        finally:
            server.stop()
