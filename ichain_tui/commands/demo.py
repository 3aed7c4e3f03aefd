"""Provides `ichain demo`: a whole local market on this machine.

Starts anvil on 127.0.0.1, deploys the contracts, funds accounts, starts three headless providers
as separate processes, then acts as the requester for examples/tasks/digits: picks the best-rated
provider and a validator, escrows, follows the task through execution, validation, result
download and decryption, finalises and rates. `--headless` prints each stage and ends with
`RESULT ok` (exit 0) only for a paid, validated, decrypted result.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from eth_account import Account

from ..errors import IchainError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tasks" / "digits"
DEMO_PASSWORD = "ichain-demo-password"  # local throwaway keystores of anvil's public dev keys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run a whole local market: anvil, 3 providers, one task")
    p.add_argument("--headless", action="store_true", help="no TUI: print each stage, end with RESULT")
    p.add_argument("--providers", type=int, default=3)
    p.add_argument("--task", type=Path, default=EXAMPLE)
    p.add_argument("--keep", type=Path, help="copy the decrypted result here")
    p.set_defaults(func=cmd_demo)


def _say(text: str) -> None:
    print(text, flush=True)


def cmd_demo(args: argparse.Namespace) -> int:
    from ..agents.events import AgentEvent
    from ..agents.hosting import Host
    from ..agents.requester import RequesterAgent
    from ..agents.selection import choose_provider
    from ..chain.client import MarketClient
    from ..chain.devnet import Devnet
    from ..chain.network import connect
    from ..sandbox import engine, image

    if not args.headless:
        _say("ichain demo: the TUI is not part of this build yet; running the headless demo")
    dc = engine.client()  # fail early, before anything starts, when Docker is missing
    image.ensure_image(dc, build=False)
    base = Path(tempfile.mkdtemp(prefix="ichain-demo-"))
    os.environ["ICHAIN_HOME"] = str(base / "requester-home")  # the demo touches none of the user's files
    procs: list[subprocess.Popen] = []
    devnet = Devnet(accounts=args.providers + 2).start()
    try:
        keys = devnet.dev_keys()
        chain = connect(devnet.url)
        requester = Account.from_key(keys[0])
        market = MarketClient.deploy(chain, requester)
        _say(f"[chain]     anvil {devnet.url}, chain id {chain.chain_id}, Marketplace {market.address}")
        for i in range(args.providers):
            home = base / f"provider-{i + 1}"
            env = {**os.environ, "ICHAIN_HOME": str(home), "ICHAIN_PASSWORD": DEMO_PASSWORD,
                   "ICHAIN_NETWORK": devnet.url, "ICHAIN_MARKET": market.address,
                   "ICHAIN_PRICE_ETH": f"{0.01 + 0.002 * i:.3f}", "ICHAIN_STAKE_ETH": "0.5", "ICHAIN_CHUNKS": "2"}
            _import_key(home, keys[i + 1])
            log = open(base / f"provider-{i + 1}.log", "w")
            procs.append(subprocess.Popen([sys.executable, "-m", "ichain_tui.cli", "provide", "--headless"],
                                          env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
            _say(f"[provider]  #{i + 1} {Account.from_key(keys[i + 1]).address} starting (log {log.name})")
        deadline = time.monotonic() + 120
        while sum(1 for e in market.events("ProviderRegistered")) < args.providers:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise IchainError("providers did not register; see the provider logs in " + str(base))
            time.sleep(0.3)
        _say(f"[market]    {args.providers} providers registered")
        host = Host("direct")
        try:
            def report(event: AgentEvent) -> None:
                _say(f"[{event.role}] {' ' * (9 - len(event.role))}{event.text()}")

            agent = RequesterAgent(market, host, base / "requester", report=report, chunks=2)
            payment = 2 * 10**16
            chosen = choose_provider(market, payment)
            if chosen is None:
                raise IchainError("no provider accepts the payment")
            _say(f"[requester] chose provider {chosen.address} (score {chosen.score:.1f}, "
                 f"price {chosen.provider.price / 1e18:g} ETH)")
            task_id = agent.submit(args.task, chosen.address, payment, validator_fee=10**15,
                                   execute_window=900, review_window=600)
            outcome = agent.follow(task_id, base / "result", rating=5)
        finally:
            host.stop()
        metrics = outcome.result_dir / "metrics.json" if outcome.result_dir else None
        if outcome.ok and metrics and metrics.exists():
            _say(f"[result]    {outcome.result_dir}: {metrics.read_text().strip().splitlines()[1].strip()}")
            if args.keep:
                shutil.copytree(outcome.result_dir, args.keep, dirs_exist_ok=True)
            _say("RESULT ok")
            return 0
        _say(f"RESULT failed: {outcome.state.label}: {outcome.message}")
        return 1
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        devnet.stop()
        shutil.rmtree(base, ignore_errors=True)


def _import_key(home: Path, key: str) -> None:
    from ..chain.wallet import Wallet

    Wallet(home / "data" / "keystores").import_private_key(key, DEMO_PASSWORD)
