"""A task's live log in the TUI: output lines and ICHAIN_PROGRESS values the requester agent
reports are kept per task (bounded, out of the event list) and shown in the task's detail, with a
chart of the loss."""

from __future__ import annotations

import pytest
from tui_harness import build_market, market_app
from tui_screens import settle, wait_for

from ichain_tui.agents.events import AgentEvent
from ichain_tui.tui.messages import AgentReported
from ichain_tui.tui.screens.tasks import TaskDetailScreen


@pytest.fixture(scope="module")
def market():
    return build_market()


async def test_the_detail_shows_the_live_log_and_a_loss_chart(market, tmp_path):
    chain, m, _ = market
    app = market_app(chain, m, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        for epoch in range(4):
            progress = {"epoch": epoch, "loss": 1 / (epoch + 1)}
            app.post_message(
                AgentReported(AgentEvent("requester", "progress", 3, "…", {"progress": progress}))
            )
            app.post_message(AgentReported(AgentEvent("requester", "output", 3, f"line {epoch}")))
        for n in range(400):
            app.post_message(AgentReported(AgentEvent("requester", "output", 3, f"chatty {n}")))
        app.post_message(AgentReported(AgentEvent("requester", "output", 3, "[/] [b]not markup")))
        await pilot.pause()
        assert len(app.task_output[3]) == 300 and not [e for e in app.events if e.kind == "output"]
        app.open_task(3)
        await wait_for(pilot, lambda: isinstance(app.screen, TaskDetailScreen), 10, "the detail")
        await pilot.pause()
        screen = app.screen
        assert "loss 0.25" in str(screen.query_one("#progress-last").render())
        assert screen.query_one("#progress-chart").data == [1.0, 0.5, 1 / 3, 0.25]
        shown = str(screen.query_one("#task-output").render())
        assert "chatty 399" in shown and "[/] [b]not markup" in shown  # a task's text, never markup


async def test_an_open_detail_follows_its_task_live(market, tmp_path):
    """Issue 25: the open detail is not a snapshot — new log lines, progress reports and events
    of its task appear in it; another task's do not."""
    chain, m, _ = market
    app = market_app(chain, m, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_task(3)
        await wait_for(pilot, lambda: isinstance(app.screen, TaskDetailScreen), 10, "the detail")
        await pilot.pause()
        screen = app.screen
        assert not screen.query_one("#task-output").display  # nothing printed yet
        report = {"epoch": 7, "loss": 0.125}
        app.post_message(AgentReported(AgentEvent("requester", "progress", 3, "…", {"progress": report})))
        app.post_message(AgentReported(AgentEvent("requester", "output", 3, "epoch 7 done")))
        app.post_message(AgentReported(AgentEvent("requester", "output", 2, "another task's line")))
        app.post_message(AgentReported(AgentEvent("requester", "validator", 3, "the validator is drawn")))
        await pilot.pause()
        output = str(screen.query_one("#task-output").render())
        assert "epoch 7 done" in output and "another task's line" not in output
        assert "loss 0.125" in str(screen.query_one("#progress-last").render())
        assert "the validator is drawn" in str(screen.query_one("#timeline").render())
        await settle(pilot)  # the fresh reading the event asked for lands, the screen stays
        assert app.screen is screen and "Task 3" in str(screen.query_one("#detail-title").render())
