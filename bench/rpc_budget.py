"""RPC requests an idle provider and a whole task cost on a public chain.

anvil with a block every `--block-time` seconds, behind a counting JSON-RPC proxy on 127.0.0.1;
the agents' chains are set up as for a public endpoint (12 s passes, 2 confirmations, 3 s receipt
polling). (a) One provider idles for `--idle-s` seconds: its requests are scaled to a day.
(b) One task (execute + check, drawn validator) goes through the market; the requester's own
requests are counted (the providers use another proxy).

Last line JSON: rpc_requests_per_idle_provider_day (target <= 10,000), requester_requests_per_task
(target <= 60), idle_methods.

    python bench/rpc_budget.py [--idle-s 180] [--block-time 12]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def public(chain):
    """Treat a local node as a public endpoint: the intervals agents use there."""
    chain.kind = "rpc"
    chain.confirmations, chain.poll_interval, chain.bump_after = 2, 3.0, 30.0
    return chain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-s", type=float, default=180.0)
    parser.add_argument("--block-time", type=float, default=12.0)
    args = parser.parse_args()
    os.environ["ICHAIN_HOME"] = tempfile.mkdtemp(
        prefix="ichain-rpc-bench-home-"
    )  # no journal of earlier runs

    from eth_account import Account
    from market_helpers import quick_task
    from rpc_proxy import JsonRpcProxy
    from sandbox_helpers import runtime_sandbox

    from ichain_tui.agents.hosting import Host
    from ichain_tui.agents.provider import ProviderAgent
    from ichain_tui.agents.requester import RequesterAgent
    from ichain_tui.chain.client import MarketClient
    from ichain_tui.chain.devnet import Devnet
    from ichain_tui.chain.network import connect
    from ichain_tui.hardware import HardwareProfile

    work = Path(tempfile.mkdtemp(prefix="ichain-rpc-bench-"))
    with Devnet(accounts=5, block_time=args.block_time) as devnet:
        keys = devnet.dev_keys()
        market = MarketClient.deploy(connect(devnet.url), Account.from_key(keys[0]), min_stake=10**16)
        agents, hosts, stops, threads = [], [], [], []
        proxies = []
        for index in (1, 2):
            proxy = JsonRpcProxy(devnet.url)
            proxies.append(proxy)
            chain = public(connect(proxy.url))
            host = Host()
            hosts.append(host)
            agent = ProviderAgent(
                MarketClient(chain, market.address, Account.from_key(keys[index])),
                runtime_sandbox(),
                host,
                work / f"provider-{index}",
                rate=10**16,
                stake=10**17,
                hardware=HardwareProfile(cpus=1),
            )
            agent.start_providing()
            agents.append(agent)
        time.sleep(2 * args.block_time)  # registrations settled
        for agent in agents:
            stop = threading.Event()
            stops.append(stop)
            thread = threading.Thread(target=agent.run, args=(stop,), daemon=True)
            thread.start()
            threads.append(thread)
        idle = proxies[0]
        idle.calls.clear()
        time.sleep(args.idle_s)
        idle_calls = dict(idle.calls)
        per_day = sum(idle_calls.values()) * 86_400 / args.idle_s
        print(
            f"idle provider: {sum(idle_calls.values())} requests in {args.idle_s:.0f} s -> {per_day:,.0f} a day "
            f"{idle_calls}",
            flush=True,
        )

        requester_proxy = JsonRpcProxy(devnet.url)
        chain = public(connect(requester_proxy.url))
        host = Host()
        hosts.append(host)
        requester = RequesterAgent(
            MarketClient(chain, market.address, Account.from_key(keys[3])),
            host,
            work / "requester",
            report=lambda e: print("  ", e.line(), flush=True),
            chunks=2,
        )
        requester_proxy.calls.clear()
        started = time.monotonic()
        task_id = requester.submit(
            quick_task(work / "task"),
            agents[0].me,
            10**16,
            validator_fee=10**15,
            execute_window=3600,
            review_window=3600,
        )
        outcome = requester.follow(task_id, work / "result")
        task_calls = dict(requester_proxy.calls)
        print(
            f"task {task_id}: {outcome.state.label} in {time.monotonic() - started:.0f} s; requester made "
            f"{sum(task_calls.values())} requests {task_calls}",
            flush=True,
        )
        for stop in stops:
            stop.set()
        for thread in threads:
            thread.join(30)
        for host in hosts:
            host.stop()
        for proxy in [*proxies, requester_proxy]:
            proxy.close()
    print(
        json.dumps(
            {
                "rpc_requests_per_idle_provider_day": round(per_day),
                "requester_requests_per_task": sum(task_calls.values()),
                "task_ok": outcome.ok,
                "idle_methods": idle_calls,
            }
        )
    )


if __name__ == "__main__":
    main()
