"""The provider dashboard while a real task runs in this machine's sandbox: what the sandbox
uses (CPU, memory and its limit, from the container's cgroup), the task's own output lines in
the log, and the earnings chart once the task is paid."""

from __future__ import annotations

import textwrap
import threading

from eth_account import Account
from tui_harness import PASSWORD
from tui_screens import settle, wait_for

from ichain_tui.agents.localnet import LocalMarket
from ichain_tui.chain.devnet import Devnet
from ichain_tui.chain.network import connect
from ichain_tui.chain.types import ValidatorMode
from ichain_tui.chain.wallet import Wallet
from ichain_tui.config import Settings
from ichain_tui.session import Session
from ichain_tui.tui.app import IchainApp
from ichain_tui.tui.screens.confirm import ConfirmScreen
from ichain_tui.tui.screens.provider import ProviderPane


def busy_task(root):
    """Holds 64 MB, keeps a core busy and prints a line every half second for about 6 s."""
    root.mkdir(parents=True)
    (root / "task.py").write_text(
        textwrap.dedent("""
        import json, sys, time
        from pathlib import Path
        mode, out = sys.argv[1], Path(sys.argv[2])
        if mode == "execute":
            hold = bytearray(64 * 1024 * 1024)
            for step in range(12):
                until = time.time() + 0.5
                while time.time() < until:
                    sum(range(1000))
                print(f"epoch {step} loss {1.0 / (step + 1):.3f}", flush=True)
                print("ICHAIN_PROGRESS " + json.dumps({"epoch": step}), flush=True)
            (out / "answer.json").write_text(json.dumps({"steps": 12, "held": len(hold)}))
        else:
            sys.exit(0 if json.loads((out / "answer.json").read_text())["steps"] == 12 else 1)
    """)
    )
    (root / "ichain.toml").write_text("time_limit = 120\nmemory_mb = 512\n")
    return root


def text(widget) -> str:
    return str(widget.render())


async def test_the_dashboard_shows_sandbox_usage_task_output_and_earnings(sandbox, tmp_path):
    with Devnet(accounts=8) as devnet:
        market = LocalMarket(devnet, tmp_path)
        try:
            wallet = Wallet(tmp_path / "keystores")
            wallet.import_private_key(market.keys[5], PASSWORD)
            me = Account.from_key(market.keys[5]).address

            def session():
                s = Session(
                    Settings(network=devnet.url),
                    chain=connect(devnet.url),
                    market_address=market.address,
                    wallet=wallet,
                )
                s.unlock(PASSWORD)
                return s

            app = IchainApp(session, refresh_seconds=0, sandbox_factory=lambda: sandbox)
            async with app.run_test(size=(100, 30)) as pilot:
                await wait_for(pilot, lambda: app.session is not None, 20, "connection")
                await pilot.press("v", "o")
                await wait_for(
                    pilot,
                    lambda: isinstance(app.screen, ConfirmScreen) and app.screen.armed,
                    20,
                    "the stake preview",
                )
                await pilot.press("enter")
                await wait_for(pilot, lambda: market.market.provider(me).available, 30, "registration")

                requester = market.requester(6)
                price = market.market.provider(me).price_for(600)
                submitted = threading.Thread(
                    target=requester.submit,
                    args=(busy_task(tmp_path / "busy"), me, price),
                    kwargs={"mode": ValidatorMode.NONE},
                    daemon=True,
                )
                submitted.start()
                pane = app.query_one(ProviderPane)
                usage = pane.query_one("#provider-usage")
                await wait_for(
                    pilot, lambda: "task 1 · execute" in text(usage) and "MiB" in text(usage), 60, "usage"
                )
                assert "CPU" in text(usage) and " of " in text(usage)  # the memory limit is read too
                # issue 25: the status line names the same running task as the sandbox line, with
                # its progress as words; the log never shows a raw ICHAIN_PROGRESS line
                status = pane.query_one("#provider-status")
                await wait_for(pilot, lambda: "task 1 (epoch " in text(status), 30, "progress in the status")
                assert "slots 1/" in text(status)
                # issue 22: the slot table shows the running task: its slot, phase, elapsed of its limit
                slots = pane.query_one("#provider-slots")
                await wait_for(
                    pilot,
                    lambda: (
                        slots.row_count == 1
                        and "/120 s" in str(slots.get_row_at(0)[4])
                        and "epoch" in str(slots.get_row_at(0)[5])
                    ),
                    30,
                    "the slot row with the task's last progress",
                )
                row = [str(cell) for cell in slots.get_row_at(0)]
                assert row[:3] == ["slot 0", "1", "executing"] and "epoch" in row[5], row
                log = pane.query_one("#provider-log")
                await wait_for(
                    pilot, lambda: any("task 1: epoch" in str(line) for line in log.lines), 30, "output"
                )
                assert not any("ICHAIN_PROGRESS" in str(line) for line in log.lines)
                await wait_for(pilot, lambda: "earned" in text(pane.query_one("#earnings-text")), 60, "pay")
                assert pane.query_one("#earnings-chart").data  # the chart has points
                await wait_for(pilot, lambda: text(usage) == "sandbox: idle", 10, "idle again")
                await pilot.press("o")
                await wait_for(pilot, lambda: not market.market.provider(me).available, 20, "stopping")
                await settle(pilot)
        finally:
            market.close()
