"""The TUI's Sweep view (issue 24): S opens this account's sweeps from their journals — a row and a
progress bar per run, the best run marked, the metric's curves overlaid; a run's progress report
repaints its row at once; Enter on a run opens its task; [ ] go to another sweep."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from tui_harness import build_market, market_app
from tui_screens import example_sweep, settle, wait_for

from ichain_tui.tui.screens.sweep import SweepScreen
from ichain_tui.tui.screens.tasks import TaskDetailScreen
from ichain_tui.tui.sweep_actions import SweepChanged


@pytest.fixture(scope="module")
def market():
    return build_market()


def _journaled(app, sweep_id: str):
    """The example sweep, saved as this session's account's sweep on this market."""
    s = app.session
    state = example_sweep(sweep_id)
    state = replace(state, requester=s.address, scope=s.market.scope)
    state.runs[0].attempts[0].task_id = 1  # a task that exists on the test market
    state.save()
    return state


async def test_s_opens_the_sweeps_and_a_report_repaints_its_run_at_once(market, tmp_path):
    chain, m, _ = market
    app = market_app(chain, m, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.session is not None, 20, "connection")
        await settle(pilot)
        _journaled(app, "0000aaaa")
        state = _journaled(app, "0000bbbb")
        await pilot.press("S")
        await wait_for(pilot, lambda: isinstance(app.screen, SweepScreen), 10, "the Sweep view")
        screen = app.screen
        table = screen.query_one("#sweep-runs")
        assert len(screen.sweeps) == 2 and table.row_count == 6
        row = [str(c) for c in table.get_row_at(0)]
        assert row[0].startswith("★") and "100%" in row[4]  # the best (lowest loss) run, done
        assert "pending" in str(table.get_row_at(5)[3])
        drawn = screen.query_one("#sweep-plot").render().plain
        assert "★ run 0" in drawn and "run 4" in drawn and "run 5" not in drawn  # 5 has no reports

        # a progress report of run 4 (a sweep running here posts this): its row, at once
        current = screen.state
        run = current.runs[4]
        run.progress = {"epoch": 15, "epochs": 20, "loss": 0.5}
        run.history.append(0.5)
        started = time.monotonic()
        app.post_message(SweepChanged(current, 4))
        await wait_for(pilot, lambda: "75%" in str(table.get_row_at(4)[4]), 2, "the repainted row")
        assert time.monotonic() - started < 1.0
        assert str(table.get_row_at(4)[5]) == "0.5"

        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert screen.state.sweep_id != current.sweep_id
        assert state.sweep_id in {s.sweep_id for s in screen.sweeps}

        # Enter on a run opens its task's detail
        table.move_cursor(row=0)
        table.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TaskDetailScreen), 10, "the run's task")
        assert app.screen.task_id == 1
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, SweepScreen), 5, "back")


async def test_ctrl_g_on_a_folder_with_a_sweep_shows_its_placement_and_cost_and_escape_sends_nothing(
    market, tmp_path
):
    from tui_screens import EXAMPLES

    from ichain_tui.tui.screens.confirm import ConfirmScreen

    chain, m, _ = market
    app = market_app(chain, m, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.session is not None, 20, "connection")
        await settle(pilot)
        await pilot.press("s")
        app.preview_folder(EXAMPLES / "sweep-regression")
        await wait_for(pilot, lambda: app.preview is not None and app.preview.spec.sweep, 30, "the folder")
        before = m.task_count()
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), 60, "the sweep's preview")
        text = " ".join(app.screen.lines)
        assert "6 runs" in text and "createTasks" in app.screen.preview.action
        assert app.screen.preview.value > 0
        await pilot.press("escape")
        await pilot.pause()
        assert m.task_count() == before  # nothing was sent
