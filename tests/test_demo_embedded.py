"""Issue 26: the demo's TUI on the embedded chain. The TUI's session uses the very in-process
chain the providers run on (a second in-process chain would be a different, empty one): a real
provider agent with its own key, home and chunk server registers, and the TUI shows it."""

from __future__ import annotations

from tui_screens import settle, wait_for

from ichain_tui.agents.embedded_market import EmbeddedMarket
from ichain_tui.bundled import examples_dir
from ichain_tui.commands.demo import demo_app


async def test_the_demo_tui_sees_the_embedded_market_its_providers_run_on(tmp_path, monkeypatch, sandbox):
    monkeypatch.setenv("ICHAIN_HOME", str(tmp_path / "requester-home"))
    market = EmbeddedMarket(tmp_path, accounts=3)
    try:
        provider = market.provider(1, rate_eth="0.012").start()
        market.wait_registered(1, timeout=60)
        app = demo_app(market, examples_dir() / "tasks" / "digits", tmp_path / "kept")
        async with app.run_test(size=(120, 30)) as pilot:
            await settle(pilot)
            assert app.session.chain is market.chain and app.session.address == market.deployer.address
            # results of tasks submitted in the demo's TUI go under --keep, never the temporary folder
            assert app.session.result_dir(3) == tmp_path / "kept" / "task-3"
            table = app.query_one("#pool-providers")
            await wait_for(pilot, lambda: table.row_count == 1, 20, "the provider in the pools")
            row = table.get_row_at(0)
            assert row[0].startswith(provider.account.address[:6]) and "0.012" in str(
                row[2]
            )  # the price, third
        assert provider.failure is None
    finally:
        market.close()
    assert not provider._thread.is_alive()  # stopped with the market
