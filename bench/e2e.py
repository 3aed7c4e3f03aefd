"""The digits task end to end through the market vs the same work done bare.

(1) anvil with automine, direct transport, providers as separate processes: wall time from
    `submit` to the decrypted result and the rating, against the sum of three bare sandbox runs
    (execute, the provider's own check, the validator's check) -> `overhead_s` (target <= 5).
(2) anvil with `--block-time 12`: blocks from the block holding `createTask` to the block at which
    the decrypted result is in the requester's hands -> `result_blocks_after_create` (target <= 4,
    protocol v2: submitResult, verdict with the key, then the fetch), and the requester's own
    transactions (createTask, rate) -> `requester_txs` (target <= 2).

    python bench/e2e.py [--skip-block-time]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ichain_tui.agents.localnet import LocalMarket
from ichain_tui.chain.devnet import Devnet
from ichain_tui.chain.transactions import PreparedCall
from ichain_tui.sandbox import engine
from ichain_tui.sandbox.runner import Sandbox
from ichain_tui.sandbox.taskspec import load_task

DIGITS = ROOT / "examples" / "tasks" / "digits"
PAY, FEE = 2 * 10**16, 2 * 10**15


def bare(tmp: Path) -> float:
    sandbox = Sandbox(engine.client(), "ichain-runtime:bookworm", gpus=[])
    spec = load_task(DIGITS)
    ex = sandbox.execute(spec, tmp / "bare-out")
    ck = sandbox.check(spec, tmp / "bare-out")
    assert ex.ok and ck.ok
    return ex.wall_s + 2 * ck.wall_s


def market_run(tmp: Path, block_time: float | None) -> dict:
    waits: list[tuple[str, int]] = []
    original = PreparedCall.send

    with Devnet(accounts=6, block_time=block_time) as devnet:
        market = LocalMarket(devnet, tmp)
        try:
            for i in (1, 2):
                market.provider(i).start()
            market.wait_registered(2, timeout=180)
            agent = market.requester(0)
            me = agent.me

            def timed_send(self, timeout: float = 120.0):
                if self.account is None or self.account.address != me:
                    return original(self, timeout)
                before = self.chain.block_number()
                result = original(self, timeout)
                waits.append((self.action, result.block - before))
                return result

            PreparedCall.send = timed_send
            t0 = time.perf_counter()
            task_id = agent.submit(
                DIGITS,
                market.providers[0].account.address,
                PAY,
                validator_fee=FEE,
                execute_window=900,
                review_window=900,
            )
            created_block = market.market.events("TaskCreated", 0, {"taskId": task_id})[0].block
            outcome = agent.follow(task_id, tmp / "result", rating=None, interval=0.2)
            result_block = market.chain.block_number()
            assert outcome.ok, outcome
            agent.rate(task_id, 5)
            seconds = time.perf_counter() - t0
            return {"seconds": seconds, "waits": waits, "result_blocks": result_block - created_block}
        finally:
            PreparedCall.send = original
            market.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-block-time", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ichain-e2e-") as tmp:
        os.environ["ICHAIN_HOME"] = str(Path(tmp) / "home")
        bare_s = bare(Path(tmp))
        fast = market_run(Path(tmp) / "automine", None)
        print(f"bare execute + 2 checks in the sandbox {bare_s:6.2f} s")
        print(
            f"market end to end (automine, direct)  {fast['seconds']:6.2f} s   overhead {fast['seconds'] - bare_s:5.2f} s"
        )
        figures = {
            "overhead_s": round(fast["seconds"] - bare_s, 2),
            "e2e_s": round(fast["seconds"], 2),
            "bare_s": round(bare_s, 2),
        }
        if not args.skip_block_time:
            slow = market_run(Path(tmp) / "blocktime", 12)
            print(f"market end to end (--block-time 12)   {slow['seconds']:6.2f} s")
            for action, blocks in slow["waits"]:
                print(f"  requester {action:<18} waited {blocks} block(s)")
            figures["result_blocks_after_create"] = slow["result_blocks"]
            figures["requester_txs"] = len([a for a, _ in slow["waits"] if a != "withdraw"])
            figures["e2e_block_time_12_s"] = round(slow["seconds"], 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
