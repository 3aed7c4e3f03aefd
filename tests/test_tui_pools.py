"""The pool viewer follows the chain: a new block's logs change only their rows (the cursor stays
on its task), nothing more than the block number is read while no block arrives, and every
registered provider is listed with availability, free stake, validated tasks and rating."""

from __future__ import annotations

from tui_harness import WINDOW, build_market, make_session, market_app
from tui_screens import wait_for

from ichain_tui.chain.wallet import public_key
from ichain_tui.tui.app import IchainApp
from ichain_tui.tui.screens.pools import PROVIDER_COLUMNS
from ichain_tui.tui.screens.task_list import TaskList


async def test_new_blocks_change_only_their_rows_and_no_block_reads_nothing(tmp_path):
    chain, m, accounts = build_market()  # its own chain: tasks are added here
    reads = []

    def session():
        s = make_session(tmp_path, chain, m)
        real = s.pools

        def counted():
            reads.append(1)
            return real()

        s.pools = counted
        return s

    app = IchainApp(session, refresh_seconds=0.2)
    async with app.run_test(size=(120, 40)) as pilot:
        tasks = app.query_one(TaskList)
        await wait_for(pilot, lambda: tasks.row_count == m.task_count(), 20, "the pools")
        providers = app.query_one("#pool-providers")
        assert providers.row_count == 3
        alice = accounts["alice"].address
        row = dict(zip(PROVIDER_COLUMNS, providers.get_row(alice), strict=True))
        assert str(row["slots"]).endswith("free") and row["validated"] == "1" and "★" in str(row["rating"])

        await pilot.pause(1.0)
        before = len(reads)
        await pilot.pause(1.0)  # no new block: the pools are not read again
        assert len(reads) == before

        tasks.cursor = 1
        followed = tasks.current.task_id
        requester = m.as_account(accounts["requester"])
        requester.create_task(
            provider=accounts["carol"].address,
            payment=10**16,
            validator_fee=10**15,
            task_root=b"\x42" * 32,
            requester_key=public_key(accounts["requester"]),
            execute_window=WINDOW,
            review_window=WINDOW,
        ).send()
        new_id = m.task_count()
        await wait_for(pilot, lambda: tasks.row_count == new_id, 10, "the new task's row")
        assert tasks.rows[0].task_id == new_id  # open pools first, newest first
        assert tasks.current.task_id == followed  # the cursor kept its task
        assert len(reads) == before + 1  # one reading for the one new block
        counts = str(app.query_one("#pool-counts").render())
        assert "executing 2" in counts


async def test_a_providers_hardware_text_is_shown_as_text_never_as_markup(tmp_path):
    """A provider writes its own hardware text on chain: brackets in it are not Rich markup (a
    `[/]` would otherwise break the pool viewer and the picker for everyone)."""
    from eth_account import Account
    from eth_utils import keccak

    from ichain_tui.tui.screens.picker import PickerScreen

    chain, m, _ = build_market()
    hostile = Account.from_key(keccak(text="hostile-hardware"))
    chain.fund(hostile.address, 10**18)
    client = m.as_account(hostile)
    client.register_provider(public_key(hostile), 10**15, "cpu=4 ram=8 gpu=[/] [b]x[/b]:1024", 10**17).send()
    app = market_app(chain, m, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        providers = app.query_one("#pool-providers")
        await wait_for(pilot, lambda: providers.row_count == 4, 20, "the providers")
        assert "[/] [b]x[/b]" in str(providers.get_row(hostile.address)[-1])
        await pilot.press("s", "a")
        await wait_for(pilot, lambda: isinstance(app.screen, PickerScreen), 20, "the picker")
        table = app.screen.query_one("#providers")
        await wait_for(pilot, lambda: table.row_count == 4, 10, "the rows")
        assert "[/] [b]x[/b]" in str(table.get_row(hostile.address)[-1])
