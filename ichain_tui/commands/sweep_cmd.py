"""Provides `ichain sweep run | status | resume | list`: an experiment over many providers — a task
folder and a parameter grid, runs placed on the best providers in one `createTasks`, retried
elsewhere, rated together in one `rateMany`, their metrics side by side."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path
from typing import Any

from ..amounts import format_eth
from ..cli_values import RATING, eth_amount
from .common import chain_for, market_for, settings_from

SWEEP_ID = str


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sweep = sub.add_parser("sweep", help="sweeps: one task over a parameter grid on many providers")
    ssub = sweep.add_subparsers(dest="sweep_cmd", required=True)
    r = ssub.add_parser("run", help="place, escrow (one transaction), follow and collect every run")
    r.add_argument("folder", type=Path)
    r.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="NAME=V1,V2",
        help="a parameter and its values (repeat; replaces the same name of ichain.toml's [sweep])",
    )
    r.add_argument("--max-parallel", type=int, help="most runs escrowed and not ended at once (default 8)")
    r.add_argument("--max-retries", type=int, help="tries elsewhere per run after a failure (default 2)")
    r.add_argument("--budget", type=eth_amount, help="most ETH the whole sweep may spend, retries included")
    r.add_argument("--metric", help="the metrics.json key that ranks the runs")
    r.add_argument("--out", type=Path, help="folder for the runs' results (default: sweep-ID)")
    r.add_argument("--rating", type=RATING, default=5, help="rating of every paid run (rated together)")
    r.add_argument("--yes", action="store_true", help="send without asking (the preview is still printed)")
    r.set_defaults(func=cmd_run)
    st = ssub.add_parser("status", help="the runs side by side: parameters, provider, state, metric, cost")
    st.add_argument("sweep_id")
    st.set_defaults(func=cmd_status)
    rs = ssub.add_parser("resume", help="pick a sweep up after a crash or a reboot: nothing is created twice")
    rs.add_argument("sweep_id")
    rs.add_argument("--rating", type=RATING, default=5)
    rs.set_defaults(func=cmd_resume)
    ls = ssub.add_parser("list", help="this account's sweeps on this market")
    ls.set_defaults(func=cmd_list)


def _reporter(args: argparse.Namespace) -> Any:
    def report(event: Any) -> None:
        if event.kind in ("progress", "output"):
            return  # the status table shows them; a line per report would flood the terminal
        print(event.as_json() if args.json else event.line(), flush=True)

    return report


def cmd_run(args: argparse.Namespace) -> int:
    from ..agents import factory
    from ..agents.sweep import SweepRunner
    from ..agents.sweep_spec import build as build_spec
    from ..errors import UsageError
    from ..sandbox.taskspec import load_task
    from .runtime import build

    task = load_task(args.folder)  # every input is checked before anything touches the chain
    spec = build_spec(task.sweep, args.grid, args.max_parallel, args.max_retries, args.budget, args.metric)
    if task.dataset and not (Path(args.folder) / task.dataset).exists():
        raise UsageError(f"dataset {task.dataset!r} is missing from {args.folder}")
    if not args.yes and not sys.stdin.isatty():
        raise UsageError("a sweep spends up to its budget: confirm with --yes when not in a terminal")
    settings = settings_from(args)
    runtime = build(settings)
    try:
        agent = factory.requester_agent(settings, runtime.market, runtime.host, runtime.work, _reporter(args))
        out = args.out
        runner = SweepRunner.new(
            agent, args.folder, task, spec, out or Path("sweep-pending"), _reporter(args), args.rating
        )
        runner.requester_fee = settings.validator_fee_wei
        if out is None:
            runner.state.results_dir = str(Path(f"sweep-{runner.state.sweep_id}").resolve())
        runner.host()
        preview = runner.preview()
        runner.state.save()
        for line in preview.lines():
            print(line, file=sys.stderr if args.json else sys.stdout, flush=True)
        if not args.yes:
            answer = input(
                f"send sweep {runner.state.sweep_id} (up to {format_eth(preview.budget_wei)})? [y/N] "
            )
            if answer.strip().lower() not in ("y", "yes"):
                runner.state.status = "stopped"
                runner.state.save()
                print("nothing was sent")
                return 1
        print(f"sweep {runner.state.sweep_id}: results in {runner.state.results_dir}", flush=True)
        return _drive(runner, args)
    finally:
        runtime.close()


def _drive(runner: Any, args: argparse.Namespace) -> int:
    stop = threading.Event()
    try:
        state = runner.run(stop)
    except KeyboardInterrupt:
        stop.set()
        print(f"stopped: `ichain sweep resume {runner.state.sweep_id}` picks it up", file=sys.stderr)
        return 130
    _print_table(state, args.json)
    return 0 if all(r.status == "done" for r in state.runs) else 1


def cmd_resume(args: argparse.Namespace) -> int:
    from ..agents import factory
    from ..agents.sweep import SweepRunner
    from ..agents.sweep_state import load
    from .runtime import build

    settings = settings_from(args)
    runtime = build(settings)
    try:
        state = load(runtime.market.signer.address, runtime.market.scope, args.sweep_id)
        agent = factory.requester_agent(settings, runtime.market, runtime.host, runtime.work, _reporter(args))
        runner = SweepRunner(agent, state, _reporter(args), args.rating)
        runner.requester_fee = settings.validator_fee_wei
        if state.status == "stopped":
            state.status = "running"
        print(f"sweep {state.sweep_id}: resuming; results in {state.results_dir}", flush=True)
        return _drive(runner, args)
    finally:
        runtime.close()


def _reader(args: argparse.Namespace) -> tuple[str, str]:
    """This account's address (no password needed) and the market's scope."""
    from ..chain.wallet import Wallet

    settings = settings_from(args)
    market = market_for(settings, chain_for(settings))
    return Wallet().find(settings.account).address, market.scope


def cmd_status(args: argparse.Namespace) -> int:
    from ..agents.sweep_state import load

    address, scope = _reader(args)
    _print_table(load(address, scope, args.sweep_id), args.json)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from ..agents.sweep_state import list_sweeps

    address, scope = _reader(args)
    rows = [
        {
            "sweep": s.sweep_id,
            "folder": s.folder,
            "runs": len(s.runs),
            "done": sum(1 for r in s.runs if r.status == "done"),
            "status": s.status,
        }
        for s in list_sweeps(address, scope)
    ]
    if args.json:
        print(json.dumps(rows))
    else:
        for r in rows:
            print(f"{r['sweep']}  {r['done']:>3}/{r['runs']:<3} {r['status']:<8} {r['folder']}")
    return 0


def table(state: Any) -> dict[str, Any]:
    """The sweep as data: one row per run (the `--json` of `status` and `run`)."""
    from ..agents.sweep_results import best_run
    from ..agents.sweep_spec import SweepSpec

    spec = SweepSpec.from_dict(state.spec)
    best = best_run(state)
    rows = []
    for run in state.runs:
        value = run.metrics.get(spec.metric) if spec.metric else None
        if value is None and spec.metric:
            value = run.progress.get(spec.metric)
        rows.append(
            {
                "run": run.index,
                "params": run.params,
                "provider": run.provider,
                "task": run.task_id,
                "state": run.status,
                "metric": value,
                "cost": format_eth(run.cost),
                "retries": run.retries,
                "best": best is not None and best.index == run.index,
                "result": run.result_dir,
            }
        )
    return {
        "sweep": state.sweep_id,
        "status": state.status,
        "metric": spec.metric,
        "goal": spec.goal,
        "spent": format_eth(state.spent),
        "requester_txs": state.requester_txs,
        "results": state.results_dir,
        "runs": rows,
    }


def _print_table(state: Any, as_json: bool) -> None:
    data = table(state)
    if as_json:
        print(json.dumps(data, default=str))
        return
    metric = data["metric"] or "metric"
    print(f"{'run':>4}  {'parameters':<28} {'provider':<14} {'state':<8} {metric:>10}  {'cost':>14}  retries")
    for row in data["runs"]:
        params = " ".join(f"{k}={v}" for k, v in row["params"].items())[:28]
        value = row["metric"]
        shown = f"{value:.4g}" if isinstance(value, float) else ("-" if value is None else str(value))
        mark = " *" if row["best"] else ""
        provider = (row["provider"][:6] + "…" + row["provider"][-4:]) if row["provider"] else "-"
        print(
            f"{row['run']:>4}  {params:<28} {provider:<14} {row['state']:<8} {shown:>10}  {row['cost']:>14}  "
            f"{row['retries']}{mark}"
        )
    print(
        f"sweep {data['sweep']} {data['status']}: spent {data['spent']}, {data['requester_txs']} transactions"
        + ("; * best " + data["metric"] if data["metric"] else "")
    )
