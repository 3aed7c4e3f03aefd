"""A sweep's parts without a chain: the grid and its bad input, where runs are placed (rounds,
exclusions, stake, budget), a run's parameters and dataset in ichain.toml, and the provider's
dataset cache (least recently used first, opened without moving bytes, a damaged entry dropped)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from transfer_helpers import random_folder

from ichain_tui.agents.selection import Candidate
from ichain_tui.agents.sweep_plan import place_runs
from ichain_tui.agents.sweep_spec import SweepSpecError, build, parse_value
from ichain_tui.agents.sweep_state import Run, SweepState
from ichain_tui.chain.types import Provider, Rating
from ichain_tui.hardware import HardwareProfile
from ichain_tui.sandbox.taskspec import TaskSpecError, load_task
from ichain_tui.transfer.dataset_cache import DatasetCache
from ichain_tui.transfer.errors import IntegrityError
from ichain_tui.transfer.locator import FileRef
from ichain_tui.transfer.manifest import seal_folder

ETH = 10**18


def test_a_grid_is_every_combination_and_the_command_line_wins():
    spec = build({"lr": [0.1, 0.01, 0.001], "seed": [1, 2, 3, 4], "metric": "accuracy"}, ["seed=7,8"])
    runs = spec.runs()
    assert len(runs) == 6 and runs[0] == {"lr": 0.1, "seed": 7} and runs[-1] == {"lr": 0.001, "seed": 8}
    assert spec.metric == "accuracy" and spec.max_parallel == 8 and spec.max_retries == 2
    listed = build({"runs": [{"lr": 0.1}, {"lr": 0.2, "wd": 0}]}, max_parallel=3, budget_eth="0.5")
    assert listed.runs() == [{"lr": 0.1}, {"lr": 0.2, "wd": 0}] and listed.budget_wei == ETH // 2
    assert [parse_value(v) for v in ("3", "0.5", "true", "adam")] == [3, 0.5, True, "adam"]


@pytest.mark.parametrize(
    "table, args, message",
    [
        ({}, ["1lr=0.1"], "not an identifier"),
        ({"bad-name": [1]}, [], "not an identifier"),
        ({}, ["lr"], "NAME=VALUE"),
        ({"lr": []}, [], "no values"),
        ({}, [], "no parameters"),
        ({"a": list(range(40)), "b": list(range(40))}, [], "at most 1000"),
        ({"lr": [1], "budget_eth": "-1"}, [], "positive"),
        ({"lr": [1], "goal": "up"}, [], "goal"),
        ({"lr": [[1, 2]]}, [], "number, a boolean or a short string"),
        ({"lr": [1], "max_parallel": 0}, [], "max_parallel"),
    ],
)
def test_bad_sweeps_are_one_line_before_anything_is_paid(table, args, message):
    with pytest.raises(SweepSpecError, match=message) as refused:
        build(table, args)
    assert "\n" not in str(refused.value)


def _candidate(address: str, slots: int, queue: int = 0, running: int = 0, rate: int = 10**16, stake=ETH):
    provider = Provider(
        address=address,
        stake=stake,
        locked=0,
        rate_per_hour=rate,
        registered=True,
        available=True,
        public_key=b"k" * 64,
        hardware=HardwareProfile(cpus=8),
        max_lock=7 * 86400,
        slots=slots,
        running=running,
        queue=queue,
    )
    return Candidate(provider, Rating())


def _place(runs, candidates, budget=ETH, max_new=100):
    return place_runs(
        runs,
        candidates,
        me="0xme",
        time_limit=600,
        gpus=0,
        review_window=3600,
        fee_for=lambda p: p // 10,
        lock_for=lambda p: p // 2,
        budget_left=budget,
        max_new=max_new,
    )


def test_runs_fill_idle_slots_first_then_queues_with_windows_that_cover_the_wait():
    runs = [Run(i, {"i": i}) for i in range(10)]
    a, b = _candidate("0xa", slots=2, queue=2), _candidate("0xb", slots=2, queue=2, running=1)
    placed = _place(runs, [a, b])
    assert len(placed) == 7  # a: 4 places, b: 3 (one of its slots is taken)
    rounds = [p.round for p in placed]
    assert rounds == sorted(rounds) and rounds.count(0) == 3  # a's 2 idle slots and b's 1
    late = [p for p in placed if p.round == 1]
    assert all(p.execute_window == 2 * 600 + 900 for p in late)
    assert all(p.execute_window == 600 + 900 for p in placed if p.round == 0)
    assert len(_place(runs, [a, b], max_new=2)) == 2


def test_a_run_never_goes_back_to_a_provider_it_failed_at_and_the_budget_and_stake_bound_it():
    run = Run(0, {})
    run.attempts = []
    from ichain_tui.agents.sweep_state import Attempt

    run.attempts.append(Attempt(5, "0xa", 1, 1, outcome="declined"))
    placed = _place([run], [_candidate("0xa", 4), _candidate("0xb", 1)])
    assert [p.provider for p in placed] == ["0xb"]
    price = _candidate("0xc", 8).provider.price_for(600)
    cost = price + price // 10
    runs = [Run(i, {}) for i in range(5)]
    assert len(_place(runs, [_candidate("0xc", 8)], budget=3 * cost)) == 3  # the budget
    poor = _candidate("0xd", 8, stake=2 * (price // 2))  # holds two locks
    assert len(_place(runs, [poor])) == 2


def test_a_run_sees_its_parameters_and_a_dataset_must_stay_inside_the_folder(tmp_path):
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "task.py").write_text("print(1)\n")
    (folder / "ichain.toml").write_text('dataset = "data"\n[sweep]\nlr = [0.1]\n')
    (folder / "ichain-params.json").write_text(json.dumps({"lr": 0.1, "opt": "adam", "deep": True}))
    (folder / "ichain-dataset.json").write_text(json.dumps({"root": "ab" * 32}))
    spec = load_task(folder)
    assert spec.params == {"lr": 0.1, "opt": "adam", "deep": True} and spec.dataset_root == "ab" * 32
    assert spec.sweep == {"lr": [0.1]} and spec.dataset == "data"
    from ichain_tui.sandbox.runner import Sandbox

    env = Sandbox._environment(spec.__class__(**{**spec.__dict__, "dataset_dir": tmp_path}), "execute")
    assert env["ICHAIN_PARAM_LR"] == "0.1" and env["ICHAIN_PARAM_DEEP"] == "true"
    assert json.loads(env["ICHAIN_PARAMS"])["opt"] == "adam" and env["ICHAIN_DATASET"] == "/dataset"
    for bad in ('dataset = "../etc"', 'dataset = "/etc"', "dataset = 3"):
        (folder / "ichain.toml").write_text(bad + "\n")
        with pytest.raises(TaskSpecError, match="dataset"):
            load_task(folder)
    (folder / "ichain.toml").write_text('dataset = "data"\n')
    (folder / "ichain-params.json").write_text(json.dumps({"x y": 1}))
    with pytest.raises(TaskSpecError, match="identifier"):
        load_task(folder)


def _sealed(tmp_path: Path, name: str, mib: float):
    src = random_folder(tmp_path / f"{name}-src", mib, files=2)
    sealed = seal_folder(src, tmp_path / f"{name}-sealed", chunks=2)
    return src, sealed


def _fetch_from(sealed):
    """A stand-in for `Fetcher.fetch` that copies the sealed chunks (counting the bytes moved)."""
    from ichain_tui.transfer.server import load_sealed

    moved: list[int] = []

    def fetch(ref, dest, work, cancel=None, deadline_s=None, keep_sealed=None, **limits):
        import shutil

        from ichain_tui.transfer.manifest import unseal_to_folder

        opened = load_sealed(sealed.directory, ref.key)
        work.mkdir(parents=True, exist_ok=True)
        for f in sealed.directory.iterdir():
            shutil.copy(f, work / f.name)
        paths = [work / f"chunk-{c.index}.bin" for c in opened.manifest.chunks]
        unseal_to_folder(opened.manifest, ref.key, paths, dest, **limits)
        moved.append(opened.manifest.sealed_size)
        if keep_sealed is not None:
            work.replace(keep_sealed)
        return type("R", (), {"bytes_downloaded": opened.manifest.sealed_size})()

    return fetch, moved


def test_the_cache_opens_a_held_dataset_without_moving_bytes_and_drops_the_least_recently_used(tmp_path):
    datasets = [_sealed(tmp_path, n, 0.4) for n in ("a", "b", "c")]
    size = datasets[0][1].manifest.sealed_size
    cache = DatasetCache(tmp_path / "cache", cap_bytes=int(2.5 * size))
    refs = [FileRef(s.root, s.key, "direct", "127.0.0.1:1") for _, s in datasets]
    fetch_a, moved_a = _fetch_from(datasets[0][1])
    first = cache.obtain(refs[0], tmp_path / "t1", fetch_a)
    second = cache.obtain(refs[0], tmp_path / "t2", fetch_a)
    assert (first.cached, second.cached, second.moved_bytes) == (False, True, 0) and len(moved_a) == 1
    assert sorted(p.name for p in (tmp_path / "t2").rglob("*") if p.is_file()) == sorted(
        p.name for p in datasets[0][0].rglob("*") if p.is_file()
    )
    os.utime(tmp_path / "cache" / refs[0].root / ".used", (time.time() - 100, time.time() - 100))
    cache.obtain(refs[1], tmp_path / "t3", _fetch_from(datasets[1][1])[0])
    cache.obtain(refs[2], tmp_path / "t4", _fetch_from(datasets[2][1])[0])
    assert not cache.cached(refs[0].root) and cache.cached(refs[1].root) and cache.cached(refs[2].root)
    # a key that does not open an intact entry is refused, and the entry stays for its owner
    wrong = FileRef(refs[2].root, b"\x01" * 32, "direct", "127.0.0.1:1")
    with pytest.raises(IntegrityError):
        cache.obtain(wrong, tmp_path / "t6", _fetch_from(datasets[2][1])[0])
    assert cache.cached(refs[2].root) and not (tmp_path / "t6").exists()
    # a damaged entry is refused and dropped, never opened
    chunk = next((tmp_path / "cache" / refs[1].root).glob("chunk-0.bin"))
    data = bytearray(chunk.read_bytes())
    data[100] ^= 1
    chunk.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        cache.obtain(refs[1], tmp_path / "t5", _fetch_from(datasets[1][1])[0])
    assert not cache.cached(refs[1].root)


def test_a_sweep_journal_survives_a_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("ICHAIN_HOME", str(tmp_path))
    from ichain_tui.agents.sweep_state import Attempt, load

    state = SweepState("0a1b2c3d", "31337-0xm", "0xReq", "/f", {"grid": {"lr": [1]}}, 7, 60)
    state.runs = [Run(0, {"lr": 1}, attempts=[Attempt(3, "0xp", 10, 1)])]
    state.save()
    again = load("0xReq", "31337-0xm", "0a1b2c3d")
    assert again.runs[0].attempts[0].task_id == 3 and again.runs[0].live is not None
    assert oct(again.path.stat().st_mode & 0o777) == "0o600"


def test_a_single_tasks_dataset_is_found_inside_its_own_package(tmp_path):
    from ichain_tui.sandbox.taskspec import bundled_dataset

    folder = tmp_path / "t"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "x.csv").write_text("1,2\n")
    (folder / "task.py").write_text("print(1)\n")
    (folder / "ichain.toml").write_text('dataset = "data"\n')
    assert bundled_dataset(load_task(folder)) == (folder / "data").resolve()
    (folder / "ichain.toml").write_text('dataset = "data/x.csv"\n')
    assert bundled_dataset(load_task(folder)) == (folder / "data").resolve()  # a file: its folder
    (folder / "ichain.toml").write_text('dataset = "missing"\n')
    assert bundled_dataset(load_task(folder)) is None
    (folder / "data" / "link").symlink_to(tmp_path)
    (folder / "ichain.toml").write_text('dataset = "data/link"\n')
    assert bundled_dataset(load_task(folder)) is None  # leads outside the task folder
