"""Sweeps end to end (issue 24) on a real anvil with headless providers, the real Docker engine and
direct transport: one `createTasks` for the runs, a declined run retried elsewhere, the dataset
moved at most once per provider, rated together in one `rateMany`; and `ichain sweep resume`
after the sweep's process is killed creates nothing twice and collects every result."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from market_helpers import in_process_provider
from sandbox_helpers import runtime_sandbox

from ichain_tui.agents.provider import ProviderAgent
from ichain_tui.agents.sweep import SweepRunner
from ichain_tui.agents.sweep_spec import build
from ichain_tui.agents.sweep_state import DONE
from ichain_tui.chain.wallet import Wallet
from ichain_tui.sandbox.taskspec import load_task

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "tasks" / "sweep-regression"


class Decliner(ProviderAgent):
    """Takes the sweep's runs (it is the cheapest) and gives each back; validates honestly."""

    def _execute(self, task, job):
        self._decline(task.task_id, "not today")


def _task(tmp_path: Path) -> Path:
    folder = tmp_path / "task"
    shutil.copytree(EXAMPLE, folder)
    return folder


def test_a_sweep_creates_its_runs_in_one_transaction_retries_a_declined_one_and_moves_its_dataset_once(
    local_market, tmp_path
):
    m = local_market
    p1 = m.provider(1, rate_eth="0.02", slots=2, queue=1).start()
    p2 = m.provider(2, rate_eth="0.02", slots=2, queue=1).start()
    m.wait_registered(2)
    decliner, stop = in_process_provider(m, 3, runtime_sandbox(), tmp_path, agent_class=Decliner)
    try:
        folder = _task(tmp_path)
        task = load_task(folder)
        spec = build({"lr": [0.3, 0.1], "seed": [1, 2], "metric": "loss", "goal": "min"})
        requester = m.requester(5)
        events = []
        runner = SweepRunner.new(requester, folder, task, spec, tmp_path / "results", events.append)
        runner.host()
        preview = runner.preview()
        assert len(preview.placed) == 4 and preview.placed[0].provider == decliner.me  # cheapest first
        first_block = m.chain.block_number() + 1
        state = runner.run()
    finally:
        stop.set()
    assert [r.status for r in state.runs] == [DONE] * 4
    declined = [r for r in state.runs if r.retries]
    assert len(declined) == 1 and declined[0].attempts[0].outcome == "cancelled"
    assert declined[0].provider != decliner.me
    # the first wave and the retry in a createTasks each, one rateMany, the decline's refund
    # withdrawn: never a transaction per run (a draw a loaded provider left pending may be made
    # by the requester too)
    sent = _calls_from(m, requester.me, first_block)
    assert sorted(n for n in sent if n not in ("drawValidator",)) == [
        "createTasks",
        "createTasks",
        "rateMany",
        "withdraw",
    ]
    assert all(m.market.task(r.task_id).rated for r in state.runs)
    losses = [r.metrics["loss"] for r in state.runs]
    assert all(isinstance(v, float) for v in losses) and min(losses) < 0.02
    assert all(
        json.loads((Path(r.result_dir) / "metrics.json").read_text())["lr"] == r.params["lr"]
        for r in state.runs
    )
    # the dataset: each provider (and validator) fetched it at most once; later runs opened their cache
    sealed = state.dataset["sealed_bytes"]
    moved = requester.host.server.sent_bytes(state.dataset["root"])
    assert 0 < moved <= 3 * sealed
    for p in (p1, p2):
        assert p.log().count("fetched: ") <= 1
    assert "opened from the cache" in p1.log() + p2.log()
    assert m.market.credits(requester.me) == 0  # the refund came back to the wallet


def _calls_from(m, sender: str, first_block: int) -> list[str]:
    """The contract functions `sender` called in blocks from `first_block` on."""
    w3, names = m.chain.w3, []
    for number in range(first_block, m.chain.block_number() + 1):
        for tx in w3.eth.get_block(number, full_transactions=True).transactions:
            if tx["from"] == sender:
                names.append(m.market.contract.decode_function_input(tx["input"])[0].fn_name)
    return names


def _cli_env(m, tmp_path: Path, key_index: int) -> dict[str, str]:
    home = tmp_path / "cli-home"
    Wallet(home / "data" / "keystores").import_private_key(m.keys[key_index], "sweep-test-password")
    return {
        **os.environ,
        "ICHAIN_HOME": str(home),
        "ICHAIN_PASSWORD": "sweep-test-password",
        "ICHAIN_NETWORK": m.url,
        "ICHAIN_MARKET": m.address,
    }


def test_sweep_resume_after_a_kill_creates_nothing_twice_and_collects_every_result(local_market, tmp_path):
    m = local_market
    m.provider(1, slots=2).start()
    m.provider(2, slots=2).start()
    m.wait_registered(2)
    env = _cli_env(m, tmp_path, 6)
    folder = _task(tmp_path)
    cmd = [sys.executable, "-m", "ichain_tui.cli", "sweep"]
    run = subprocess.Popen(
        [*cmd, "run", str(folder), "--grid", "lr=0.3,0.1", "--grid", "pause=1", "--yes", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    sweep_id = None
    deadline = time.monotonic() + 120
    for line in run.stdout:
        if line.startswith("sweep ") and ": results in" in line:
            sweep_id = line.split()[1].rstrip(":")
        if '"kind": "created"' in line:
            break
        assert time.monotonic() < deadline, "the sweep never created its runs"
    assert sweep_id
    time.sleep(1)
    run.send_signal(signal.SIGKILL)
    run.wait(30)
    created_before = m.market.task_count()
    assert created_before == 4  # lr from the command line x seed from ichain.toml, in one transaction
    resumed = subprocess.run(
        [*cmd, "resume", sweep_id, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert m.market.task_count() == created_before  # nothing created twice
    table = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert [row["state"] for row in table["runs"]] == ["done"] * 4
    assert all((Path(row["result"]) / "metrics.json").is_file() for row in table["runs"])
    status = subprocess.run(
        [*cmd, "status", sweep_id, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["status"] == "done"


def test_a_single_task_with_a_dataset_carries_it_in_its_package_and_sees_it_at_slash_dataset(
    local_market, tmp_path
):
    m = local_market
    p1 = m.provider(1).start()
    m.provider(2).start()
    m.wait_registered(2)
    requester = m.requester(5)
    task_id = requester.submit(_task(tmp_path), p1.account.address, 2 * 10**16, validator_fee=2 * 10**15)
    outcome = requester.follow(task_id, tmp_path / "result")
    assert outcome.ok, outcome
    metrics = json.loads((tmp_path / "result" / "metrics.json").read_text())
    assert metrics["lr"] == 0.1 and metrics["loss"] < 0.1  # the default parameters, the real data
    assert metrics["data"] == "/dataset"  # read from the read-only mount, not the task folder
