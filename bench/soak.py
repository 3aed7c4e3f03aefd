"""Soak: a small market left alone with a node that misbehaves at random.

anvil with a block every 2 s behind two proxies on 127.0.0.1 — a TCP one that can refuse every
connection, and a JSON-RPC one that answers 429, lags 3 blocks behind, drops a transaction from
the mempool, loses the answer to a send, caps `eth_getLogs` at 1,000 blocks and adds latency.
The proxy says it is not anvil, so the agents behave as on a public chain (12 s passes, 2
confirmations, fee replacement after 30 s). Three `ichain provide --headless` processes and two
requesters (threads, submitting one task after another, each naming one of the three as
validator) run for `--minutes`; a fourth provider, never chosen, idles behind its own counter.
Faults stop at the end and every open task gets `--drain-minutes` to reach its end.

Last line JSON: tasks_done, tasks_refunded, tasks_lost (target 0: created but not ended),
wei_unaccounted (target 0: balances + contract + gas before and after), agent_deaths (target 0:
provider processes that exited, requester errors that ended a task's follow),
rpc_requests_per_idle_provider_day (target <= 10,000), faults (how many of each).

    python bench/soak.py [--minutes 30] [--drain-minutes 6] [--seed 1]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

PAY = 10**16
FEE = PAY // 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--drain-minutes", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    os.environ["ICHAIN_HOME"] = tempfile.mkdtemp(prefix="ichain-soak-home-")
    rng = random.Random(args.seed)

    from eth_account import Account
    from market_helpers import LocalMarket, quick_task
    from rpc_proxy import JsonRpcProxy, SwitchableProxy

    from ichain_tui.agents.hosting import Host
    from ichain_tui.agents.requester import RequesterAgent
    from ichain_tui.chain.client import MarketClient
    from ichain_tui.chain.devnet import Devnet
    from ichain_tui.chain.network import connect
    from ichain_tui.chain.types import ValidatorMode
    from ichain_tui.config import Settings
    from ichain_tui.connection import configure

    base = Path(tempfile.mkdtemp(prefix="ichain-soak-"))
    with Devnet(accounts=10, block_time=2) as devnet:
        direct = connect(devnet.url)
        market = LocalMarket(devnet, base)
        faulty = JsonRpcProxy(devnet.url, max_log_blocks=1000)
        faulty.client_version = "Geth/v1.14.12-stable/linux-amd64/go1.23"
        gate = SwitchableProxy("127.0.0.1", int(faulty.url.rsplit(":", 1)[1]))
        idle_counter = JsonRpcProxy(gate.url)
        idle_counter.client_version = faulty.client_version
        parties = [Account.from_key(k).address for k in market.keys[:10]]
        before = sum(direct.balance(a) for a in parties) + direct.balance(market.address)
        first_block = direct.block_number()

        market.url = gate.url
        providers = [market.provider(i, rate_eth=0.01) for i in (1, 2, 3)]
        market.url = idle_counter.url
        idle = market.provider(4, rate_eth=5.0)  # never affordable, never named: it only idles
        for p in [*providers, idle]:
            p.start()
        market.wait_registered(4, timeout=300)
        time.sleep(12)
        idle_counter.calls.clear()
        idle_started = time.monotonic()

        stop = threading.Event()
        counts = collections.Counter()
        created: list[int] = []
        lock = threading.Lock()

        def requester_loop(index: int) -> None:
            chain = connect(gate.url, patience=60)
            configure(chain, Settings())
            host = Host()
            agent = RequesterAgent(
                MarketClient(chain, market.address, Account.from_key(market.keys[index])),
                host,
                base / f"requester-{index}",
                chunks=2,
            )
            n = 0
            try:
                while not stop.is_set():
                    n += 1
                    provider, validator = rng.sample([p.account.address for p in providers], 2)
                    try:
                        task_id = agent.submit(
                            quick_task(base / f"r{index}-task-{n}"),
                            provider,
                            PAY,
                            mode=ValidatorMode.NAMED,
                            validator=validator,
                            validator_fee=FEE,
                            execute_window=600,
                            review_window=600,
                        )
                    except Exception as exc:
                        with lock:
                            counts["create_failed"] += 1
                        print(f"requester {index}: submit failed: {str(exc)[:160]}", flush=True)
                        time.sleep(5)
                        continue
                    with lock:
                        created.append(task_id)
                    try:
                        outcome = agent.follow(task_id, base / f"r{index}-result-{n}")
                        with lock:
                            counts["done" if outcome.ok else "refunded"] += 1
                        print(f"requester {index}: task {task_id} {outcome.state.label}", flush=True)
                    except Exception as exc:
                        with lock:
                            counts["requester_deaths"] += 1
                        print(f"requester {index}: follow of {task_id} died: {exc!r}", flush=True)
            finally:
                host.stop()

        def injector() -> None:
            while not stop.is_set():
                stop.wait(rng.uniform(15, 45))
                if stop.is_set():
                    return
                fault = rng.choice(["down", "throttle", "lag", "drop", "lose", "latency"])
                counts[f"fault_{fault}"] += 1
                print(f"fault: {fault}", flush=True)
                if fault == "down":
                    gate.take_down()
                    stop.wait(rng.uniform(5, 30))
                    gate.bring_back()
                elif fault == "throttle":
                    faulty.throttle_until = time.monotonic() + rng.uniform(5, 15)
                elif fault == "lag":
                    faulty.lag = 3
                    stop.wait(rng.uniform(20, 60))
                    faulty.lag = 0
                elif fault == "drop":
                    faulty.drop_raw += 1
                elif fault == "lose":
                    faulty.lose_raw_answer += 1
                elif fault == "latency":
                    faulty.latency = rng.uniform(0.2, 1.0)
                    stop.wait(rng.uniform(20, 40))
                    faulty.latency = 0.0

        threads = [threading.Thread(target=requester_loop, args=(i,), daemon=True) for i in (5, 6)]
        threads.append(threading.Thread(target=injector, daemon=True))
        for t in threads:
            t.start()
        time.sleep(args.minutes * 60)
        stop.set()  # faults stop; requesters finish the task they follow
        gate.bring_back()
        faulty.lag, faulty.latency, faulty.throttle_until = 0, 0.0, 0.0
        idle_requests = sum(idle_counter.calls.values())
        idle_seconds = time.monotonic() - idle_started
        for t in threads:
            t.join(args.drain_minutes * 60)

        # anything still open is driven to its end through the timed exits (the chain's clock moves on)
        deadline = time.monotonic() + args.drain_minutes * 60
        open_tasks = [t for t in created if not direct_market(direct, market).task(t).state.is_final]
        while open_tasks and time.monotonic() < deadline:
            time.sleep(5)
            open_tasks = [t for t in open_tasks if not direct_market(direct, market).task(t).state.is_final]
        deaths = sum(1 for p in [*providers, idle] if p.proc.poll() is not None) + counts["requester_deaths"]
        for p in [*providers, idle]:
            p.terminate(120)
        last_block = direct.block_number()
        after = sum(direct.balance(a) for a in parties) + direct.balance(market.address)
        gas = gas_paid(direct, parties, first_block + 1, last_block)
        for proxy in (idle_counter, faulty):
            proxy.close()
        gate.close()
        market.close()
    print(
        json.dumps(
            {
                "minutes": args.minutes,
                "tasks_created": len(created),
                "tasks_done": counts["done"],
                "tasks_refunded": counts["refunded"],
                "tasks_lost": len(open_tasks),
                "wei_unaccounted": before - after - gas,
                "agent_deaths": deaths,
                "rpc_requests_per_idle_provider_day": round(idle_requests * 86_400 / idle_seconds),
                "create_failed": counts["create_failed"],
                "faults": {k.removeprefix("fault_"): v for k, v in counts.items() if k.startswith("fault_")},
            }
        )
    )


def direct_market(chain, market):
    from ichain_tui.chain.client import MarketClient

    return MarketClient(chain, market.address)


def gas_paid(chain, parties: list[str], first: int, last: int) -> int:
    """Wei spent on gas by `parties` in blocks [first, last] (base fee burnt plus tips)."""
    ours = {p.lower() for p in parties}
    total = 0
    for number in range(first, last + 1):
        block = chain.w3.eth.get_block(number, full_transactions=True)
        for tx in block["transactions"]:
            if tx["from"].lower() in ours:
                receipt = chain.w3.eth.get_transaction_receipt(tx["hash"])
                total += receipt["gasUsed"] * receipt["effectiveGasPrice"]
    return total


if __name__ == "__main__":
    main()
