"""`task list` and the pools view on a market deployed `--blocks` blocks ago.

anvil: deploy, two providers, three tasks, then `--blocks` empty blocks mined (anvil here mines
only about 100 blocks a second, slower as the chain grows: 200,000 take over half an hour to
prepare); the reads go through a proxy on 127.0.0.1 that refuses `eth_getLogs` over more than
`--cap` blocks with Alchemy's message, as a public endpoint would. `task list` reads every role
with one `eth_getLogs` per range, so its requests grow as blocks / cap.

Last line JSON: task_list_s (target <= 5), task_list_get_logs, pool_s (target <= 5), pool_get_logs.

    python bench/deep_chain.py [--blocks 200000] [--cap 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=200_000)
    parser.add_argument("--cap", type=int, default=10_000)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="ichain-deep-home-"))
    os.environ["ICHAIN_HOME"] = str(home)

    from eth_account import Account
    from rpc_proxy import JsonRpcProxy

    from ichain_tui.agents.localnet import PASSWORD
    from ichain_tui.agents.selection import pool
    from ichain_tui.chain.client import MarketClient
    from ichain_tui.chain.devnet import Devnet
    from ichain_tui.chain.network import connect
    from ichain_tui.chain.types import ValidatorMode
    from ichain_tui.chain.wallet import Wallet, public_key

    with Devnet(accounts=4) as devnet:
        keys = devnet.dev_keys()
        chain = connect(devnet.url, timeout=600)
        market = MarketClient.deploy(chain, Account.from_key(keys[0]), min_stake=10**16)
        for key in keys[1:3]:
            account = Account.from_key(key)
            market.as_account(account).register_provider(public_key(account), 10**16, "cpu=1", 10**17).send()
        requester = market.as_account(Account.from_key(keys[3]))
        for _ in range(3):
            requester.create_task(
                provider=Account.from_key(keys[1]).address,
                payment=10**16,
                mode=ValidatorMode.NONE,
                task_root=os.urandom(32),
                requester_key=public_key(requester.account),
            ).send()
        started = time.monotonic()
        left = args.blocks
        while left > 0:
            step = min(5_000, left)
            chain.w3.provider.make_request("anvil_mine", [hex(step)])
            left -= step
        print(
            f"mined {args.blocks} blocks in {time.monotonic() - started:.0f} s; head {chain.block_number()}",
            flush=True,
        )

        proxy = JsonRpcProxy(devnet.url, max_log_blocks=args.cap)
        Wallet(home / "data" / "keystores").import_private_key(keys[3], PASSWORD)
        env = {
            **os.environ,
            "ICHAIN_PASSWORD": PASSWORD,
            "ICHAIN_NETWORK": proxy.url,
            "ICHAIN_MARKET": market.address,
        }
        started = time.monotonic()
        listed = subprocess.run(
            [sys.executable, "-m", "ichain_tui.cli", "task", "list", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        task_list_s = time.monotonic() - started
        if listed.returncode != 0:
            raise SystemExit(listed.stderr)
        rows = json.loads(listed.stdout)
        list_logs = proxy.calls["eth_getLogs"]
        print(
            f"task list: {len(rows)} tasks in {task_list_s:.2f} s, {list_logs} eth_getLogs "
            f"({proxy.refused} refused)",
            flush=True,
        )

        proxy.calls.clear()
        started = time.monotonic()
        found = pool(MarketClient(connect(proxy.url), market.address))
        pool_s = time.monotonic() - started
        pool_logs = proxy.calls["eth_getLogs"]
        print(f"pool: {len(found)} providers in {pool_s:.2f} s, {pool_logs} eth_getLogs", flush=True)
        proxy.close()
    print(
        json.dumps(
            {
                "blocks": args.blocks,
                "cap": args.cap,
                "task_list_s": round(task_list_s, 2),
                "task_list_get_logs": list_logs,
                "pool_s": round(pool_s, 2),
                "pool_get_logs": pool_logs,
                "tasks_listed": len(rows),
            }
        )
    )


if __name__ == "__main__":
    main()
