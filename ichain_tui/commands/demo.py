"""Provides `ichain demo`: a whole local market on this machine.

Starts anvil on 127.0.0.1, deploys the contracts, funds accounts, starts three headless providers
as separate processes, then acts as the requester for examples/tasks/digits: picks the best-rated
provider and a validator, escrows, follows the task through execution, validation, result
download and decryption, finalises and rates. `--headless` prints each stage and ends with
`RESULT ok` (exit 0) only for a paid, validated, decrypted result.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ..amounts import format_eth
from ..bundled import examples_dir
from ..cli_values import whole
from ..errors import IchainError

if TYPE_CHECKING:
    from ..agents.localnet import LocalMarket

EXAMPLE = examples_dir() / "tasks" / "digits"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="run a whole local market: anvil, 3 providers, one task")
    p.add_argument("--headless", action="store_true", help="no TUI: print each stage, end with RESULT")
    p.add_argument("--providers", type=whole(1, 16, "a number of providers"), default=3)
    p.add_argument("--task", type=Path, default=EXAMPLE)
    p.add_argument("--keep", type=Path, help="copy the decrypted result here")
    p.set_defaults(func=cmd_demo)


def _say(text: str) -> None:
    print(text, flush=True)


def cmd_demo(args: argparse.Namespace) -> int:
    from ..agents.events import AgentEvent
    from ..agents.localnet import LocalMarket
    from ..agents.selection import choose_provider
    from ..chain.devnet import Devnet
    from ..sandbox import engine, image

    dc = engine.client()  # fail early, before anything starts, when Docker is missing
    image.ensure_image(dc, build=False)
    base = Path(tempfile.mkdtemp(prefix="ichain-demo-"))
    os.environ["ICHAIN_HOME"] = str(base / "requester-home")  # the demo touches none of the user's files
    devnet = Devnet(accounts=args.providers + 2).start()
    market = None
    try:
        market = LocalMarket(devnet, base)
        _say(
            f"[chain]     anvil {devnet.url}, chain id {market.chain.chain_id}, Marketplace {market.address}"
        )
        for i in range(1, args.providers + 1):
            provider = market.provider(i, price_eth=f"{0.010 + 0.002 * (i - 1):.3f}").start()
            _say(f"[provider]  #{i} {provider.account.address} starting (log {provider.log_path})")
        market.wait_registered(args.providers, timeout=120)
        _say(f"[market]    {args.providers} providers registered")
        if not args.headless:
            return _run_tui(market, devnet.url, args.task)

        def report(event: AgentEvent) -> None:
            _say(f"[{event.role}] {' ' * (9 - len(event.role))}{event.text()}")

        agent = market.requester(0, report=report)
        payment = 2 * 10**16
        chosen = choose_provider(agent.market, payment)
        if chosen is None:
            raise IchainError("no provider accepts the payment")
        _say(
            f"[requester] chose provider {chosen.address} (score {chosen.score:.1f}, "
            f"price {format_eth(chosen.provider.price)})"
        )
        task_id = agent.submit(
            args.task,
            chosen.address,
            payment,
            validator_fee=agent.market.min_fee_for(payment),
            execute_window=900,
            review_window=600,
        )
        outcome = agent.follow(task_id, base / "result", rating=5)
        metrics = outcome.result_dir / "metrics.json" if outcome.result_dir else None
        if outcome.ok and metrics and metrics.exists():
            accuracy = json.loads(metrics.read_text()).get("accuracy")
            _say(f"[result]    decrypted into {outcome.result_dir}: held-out accuracy {accuracy}")
            if args.keep and outcome.result_dir:
                shutil.copytree(outcome.result_dir, args.keep, dirs_exist_ok=True)
            _say("RESULT ok")
            return 0
        _say(f"RESULT failed: {outcome.state.label}: {outcome.message}")
        return 1
    finally:
        if market is not None:
            market.close()
        devnet.stop()
        shutil.rmtree(base, ignore_errors=True)


def _run_tui(market: LocalMarket, url: str, task: Path) -> int:
    """Open the TUI as the requester (anvil's first dev account) with the task folder selected."""
    from .. import locations
    from ..agents.localnet import PASSWORD
    from ..chain.network import connect
    from ..chain.wallet import Wallet
    from ..config import Settings
    from ..session import Session
    from ..tui.app import IchainApp

    wallet = Wallet(locations.keystore_dir())
    wallet.import_private_key(market.keys[0], PASSWORD)

    def session() -> Session:
        s = Session(
            Settings(network=url, chunks=2), chain=connect(url), market_address=market.address, wallet=wallet
        )
        s.unlock(PASSWORD)
        return s

    IchainApp(session, start_folder=task.parent, initial_folder=task).run()
    return 0
