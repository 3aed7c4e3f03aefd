"""Provides `ichain demo`: a whole local market on this machine.

Starts anvil on 127.0.0.1 (or, when no anvil is installed or with `--network embedded`, the
in-process chain), deploys the contracts, funds accounts, starts three providers (separate
`ichain provide` processes on anvil, in-process agents on the embedded chain), then acts as the requester for examples/tasks/digits: picks the best-rated
provider and a validator, escrows, follows the task through execution, validation, result
download and decryption, finalises and rates. `--headless` prints each stage and ends with
`RESULT ok` (exit 0) only for a paid, validated, decrypted result.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..amounts import format_eth
from ..bundled import examples_dir
from ..cli_values import whole
from ..errors import ConfigError, IchainError

if TYPE_CHECKING:
    from ..agents.localnet import MarketHere

# the demo's providers may finish for this long when it ends: its chain and their files go with it
QUIT_GRACE_S = 1.0
EXAMPLE = examples_dir() / "tasks" / "digits"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="run a whole local market: a chain, 3 providers, one task")
    p.add_argument("--headless", action="store_true", help="no TUI: print each stage, end with RESULT")
    p.add_argument("--providers", type=whole(1, 16, "a number of providers"), default=3)
    p.add_argument("--task", type=Path, default=EXAMPLE)
    p.add_argument(
        "--keep",
        type=Path,
        help="keep the decrypted results here (default: demo-results/ in the app's data folder)",
    )
    p.set_defaults(func=cmd_demo)


def _say(text: str) -> None:
    print(text, flush=True)


def choose_chain(asked: str | None) -> tuple[str, str]:
    """Which chain the demo runs on, and why: anvil (a separate process, as a real node is) when
    installed, else the in-process chain; `--network embedded` asks for the latter."""
    from ..chain.devnet import anvil_binary
    from ..chain.errors import ChainError
    from ..fixes import anvil as anvil_fix

    if asked == "embedded":
        return "embedded", "asked for with --network embedded"
    if asked not in (None, "local"):
        raise ConfigError(
            f"the demo runs a chain of its own: --network takes embedded or local here, not {asked[:60]}"
        )
    try:
        return "anvil", f"anvil found at {anvil_binary()}"
    except ChainError:
        if asked == "local":
            raise ChainError(f"--network local needs anvil: {anvil_fix()}") from None
        return "embedded", f"no anvil installed ({anvil_fix()} to run the chain as its own process)"


def cmd_demo(args: argparse.Namespace) -> int:
    from ..sandbox import engine, image

    kind, why = choose_chain(getattr(args, "network", None))
    with contextlib.closing(engine.client(timeout=5.0)) as dc:  # fail early when Docker is missing
        image.ensure_image(dc, build=False)
    keep = _results_folder(args.keep)  # in the user's data folder: it outlives the demo
    base = Path(tempfile.mkdtemp(prefix="ichain-demo-"))
    os.environ["ICHAIN_HOME"] = str(base / "requester-home")  # the demo touches none of the user's files
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, base, ignore_errors=True)
        market = _open_market(kind, args.providers + 2, base, stack)
        _say(f"[chain]     {_describe(market)}: {why}")
        _say(f"[chain]     chain id {market.chain.chain_id}, Marketplace {market.address}")
        for i in range(1, args.providers + 1):
            provider = market.provider(i, rate_eth=f"{0.010 + 0.002 * (i - 1):.3f}").start()
            _say(f"[provider]  #{i} {provider.account.address} starting (log {provider.log_path})")
        market.wait_registered(args.providers, timeout=120)
        _say(f"[market]    {args.providers} providers registered")
        if not args.headless:
            return _run_tui(market, args.task, keep)
        return _run_headless(market, args.task, keep)
    return 1  # not reached: the block returns (mypy cannot see it)


def _open_market(kind: str, accounts: int, base: Path, stack: contextlib.ExitStack) -> MarketHere:
    if kind == "embedded":
        from ..agents.embedded_market import EmbeddedMarket

        embedded = EmbeddedMarket(base, accounts)
        stack.callback(embedded.close, QUIT_GRACE_S)
        return embedded
    from ..agents.localnet import LocalMarket
    from ..chain.devnet import Devnet

    devnet = Devnet(accounts=accounts).start()
    stack.callback(devnet.stop)
    local = LocalMarket(devnet, base)
    stack.callback(local.close, QUIT_GRACE_S)
    return local


def _describe(market: MarketHere) -> str:
    if market.chain.kind == "embedded":
        return "embedded chain (eth-tester in this process; providers are in-process agents)"
    return f"anvil {market.chain.url} (providers are `ichain provide` processes)"


def _results_folder(keep: Path | None) -> Path:
    """--keep, or a folder of this run under the app's data folder: results are never only in
    the demo's temporary folder, which goes when the demo ends."""
    from .. import locations

    if keep is not None:
        return keep.expanduser().resolve()
    return locations.data_dir() / "demo-results" / time.strftime("%Y%m%d-%H%M%S")


def _run_headless(market: MarketHere, task: Path, keep: Path) -> int:
    from ..agents.events import AgentEvent
    from ..agents.selection import choose_provider

    def report(event: AgentEvent) -> None:
        _say(f"[{event.role}] {' ' * (9 - len(event.role))}{event.text()}")

    agent = market.requester(0, report=report)
    from ..sandbox.taskspec import load_task

    payment = 2 * 10**16
    limit = math.ceil(load_task(task).time_limit)
    chosen = choose_provider(agent.market, payment, time_limit=limit)
    if chosen is None:
        raise IchainError("no provider accepts the payment")
    _say(
        f"[requester] chose provider {chosen.address} (score {chosen.score:.1f}, "
        f"rate {format_eth(chosen.provider.rate_per_hour)}/h)"
    )
    task_id = agent.submit(
        task,
        chosen.address,
        payment,
        validator_fee=agent.market.min_fee_for(payment),
        execute_window=limit + 900,
        review_window=600,
    )
    outcome = agent.follow(task_id, keep / f"task-{task_id}", rating=5)
    metrics = outcome.result_dir / "metrics.json" if outcome.result_dir else None
    if outcome.ok and metrics and metrics.exists():
        accuracy = json.loads(metrics.read_text()).get("accuracy")
        _say(f"[result]    decrypted into {outcome.result_dir}: held-out accuracy {accuracy}")
        _say("RESULT ok")
        return 0
    _say(f"RESULT failed: {outcome.state.label}: {outcome.message}")
    return 1


def _run_tui(market: MarketHere, task: Path, keep: Path) -> int:
    demo_app(market, task, keep).run()
    kept = sorted(p.name for p in keep.glob("task-*")) if keep.is_dir() else []
    if kept:
        _say(f"[result]    results of this demo's tasks ({', '.join(kept)}) are kept in {keep}")
    else:
        _say("[result]    no task of this demo reached a result")
    _say("[demo]      stopping the providers and the chain")
    return 0


def demo_app(
    market: MarketHere, task: Path, keep: Path | None = None
) -> Any:  # an IchainApp (the TUI is imported late)
    """The TUI as the requester (the market's first key) with the task folder selected."""
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
        # the in-process chain is the market's own object; a node is connected to afresh
        url = market.chain.url or "embedded"
        chain = market.chain if market.chain.kind == "embedded" else connect(url)
        s = Session(
            Settings(network=url, chunks=2),
            chain=chain,
            market_address=market.address,
            wallet=wallet,
            results_root=keep,
        )
        s.unlock(PASSWORD)
        return s

    return IchainApp(session, start_folder=task.parent, initial_folder=task)
