"""Provides `ichain task try | submit | resume | status | list | refund | settle | rate | withdraw`."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

from ..amounts import parse_eth
from ..chain.errors import ChainError
from ..cli_values import RATING, TASK_ID, address_or, eth_amount

if TYPE_CHECKING:
    from ..agents.events import Reporter
    from ..agents.requester import Outcome
from .common import chain_for, emit, eth, market_for, settings_from, unlock
from .sandbox_cmd import add_try_parser


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    task = sub.add_parser("task", help="tasks: try locally, submit, follow, settle")
    tsub = task.add_subparsers(dest="task_cmd", required=True)
    add_try_parser(tsub)
    s = tsub.add_parser("submit", help="escrow, host and follow a task to its end (stays running)")
    s.add_argument("folder", type=Path)
    s.add_argument(
        "--provider",
        default="auto",
        type=address_or("auto"),
        help="address, or auto: the best-rated available one",
    )
    s.add_argument(
        "--validator",
        default="random",
        type=address_or("random", "none"),
        help="random (drawn from the staked pool; counts toward reputation), an address "
        "(the provider may decline it), or none (paid when the provider reveals the key)",
    )
    s.add_argument(
        "--payment", type=eth_amount, help="ETH for the provider (default: its rates x the task's time limit)"
    )
    s.add_argument(
        "--fee", type=eth_amount, help="ETH for the validator (at least the market's minimum share)"
    )
    s.add_argument("--out", type=Path, default=Path("result"), help="folder for the decrypted result")
    s.add_argument("--rating", type=RATING, default=5)
    s.set_defaults(func=cmd_submit)
    for name, text in (
        (
            "resume",
            "pick up a task submitted from this machine (after a crash, a reboot or Ctrl+C): "
            "host its files again, follow it, fetch the result",
        ),
        (
            "follow",
            "watch a task submitted from this machine: its live output and ICHAIN_PROGRESS lines "
            "while it runs, then the result (as resume does)",
        ),
    ):
        r = tsub.add_parser(name, help=text)
        r.add_argument("task_id", type=TASK_ID)
        r.add_argument(
            "--out", type=Path, default=None, help="folder for the decrypted result (default: result-ID)"
        )
        r.add_argument("--rating", type=RATING, default=5)
        r.set_defaults(func=cmd_resume)
    st = tsub.add_parser("status", help="one task's state, parties, money and deadline")
    st.add_argument("task_id", type=TASK_ID)
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_status)
    ls = tsub.add_parser("list", help="tasks where this account is requester, provider or validator")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)
    for name, helptext in (
        ("refund", "take the refund after a silent provider (or one that never claimed)"),
        ("settle", "settle a fail whose appeal window passed, or a void appeal"),
    ):
        c = tsub.add_parser(name, help=helptext)
        c.add_argument("task_id", type=TASK_ID)
        c.set_defaults(func=cmd_simple, action=name)
    f = tsub.add_parser("rate", help="rate the provider of a paid task (1-5)")
    f.add_argument("task_id", type=TASK_ID)
    f.add_argument("--rating", type=RATING, required=True)
    f.set_defaults(func=cmd_rate)
    w = tsub.add_parser(
        "withdraw",
        help="pull refunds credited to the wallet; providers and validators, "
        "whose earnings are added to their stake: --earnings or --stake ETH",
    )
    w.add_argument(
        "--earnings",
        action="store_true",
        help="also take out the free stake above the market's minimum (stays available)",
    )
    w.add_argument("--stake", type=eth_amount, help="also take out this much free stake, in ETH")
    w.add_argument("--json", action="store_true")
    w.set_defaults(func=cmd_withdraw)


def cmd_status(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    market = market_for(settings, chain_for(settings))
    t = market.task(args.task_id)
    if t.state.name == "NONE":
        raise ChainError(f"task {args.task_id} does not exist")
    emit(
        {
            "task": t.task_id,
            "state": t.state.label,
            "requester": t.requester,
            "provider": t.provider,
            "validator": t.validator,
            "payment": eth(t.payment),
            "validator_fee": eth(t.validator_fee),
            "mode": t.mode.label,
            "escrow": eth(market.escrow_of(t.task_id)),
            "deadline": t.deadline,
            "key_commit": t.key_commit.hex() if t.key_commit else None,
            "rated": t.rated,
        },
        args.json,
    )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    account = unlock(settings)
    market = market_for(settings, chain_for(settings), account)
    me = account.address
    ids = set(market.tasks_naming(me, 0, as_requester=True))  # one eth_getLogs per range for every role
    rows = []
    for task_id in sorted(ids):
        t = market.task(task_id)
        role = "requester" if t.requester == me else "provider" if t.provider == me else "validator"
        rows.append({"task": task_id, "role": role, "state": t.state.label, "payment": eth(t.payment)})
    if args.json:
        print(json.dumps(rows))
    else:
        for r in rows:
            print(f"{r['task']:>6}  {r['role']:<9}  {r['state']:<10}  {r['payment']}")
    return 0


def cmd_simple(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    market = market_for(settings, chain_for(settings), unlock(settings))
    call = {"refund": market.refund, "settle": market.settle}[args.action]
    tx = call(args.task_id).send()
    if args.json:
        emit({"task": args.task_id, "action": args.action, "tx": tx.tx_hash, "gas": tx.gas_used}, True)
    else:
        print(f"{args.action} task {args.task_id}: {tx.tx_hash} (gas {tx.gas_used})")
    return 0


def cmd_rate(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    market = market_for(settings, chain_for(settings), unlock(settings))
    tx = market.rate(args.task_id, args.rating).send()
    if args.json:
        emit({"task": args.task_id, "rating": args.rating, "tx": tx.tx_hash}, True)
    else:
        print(f"rated task {args.task_id} {args.rating}/5: {tx.tx_hash}")
    return 0


def cmd_withdraw(args: argparse.Namespace) -> int:
    from ..errors import UsageError

    settings = settings_from(args)
    account = unlock(settings)
    market = market_for(settings, chain_for(settings), account)
    credits = market.credits(account.address)
    info = market.provider(account.address)
    if args.stake is not None:
        from_stake = parse_eth(args.stake, "--stake")
    elif args.earnings:
        from_stake = max(0, info.free_stake - max(0, market.min_stake - info.locked))
    else:
        from_stake = 0
    if credits == 0 and from_stake == 0:
        hint = (
            f" (free stake {eth(info.free_stake)}: --earnings or --stake ETH)"
            if info.registered and info.free_stake and not (args.earnings or args.stake)
            else ""
        )
        raise UsageError("nothing to withdraw" + hint)
    sent: list[str] = []
    if credits:
        sent.append(market.withdraw().send().tx_hash)
    if from_stake:
        sent.append(market.withdraw_stake(from_stake).send().tx_hash)
    emit({"credits": eth(credits), "stake": eth(from_stake), "tx": sent}, args.json)
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from ..agents import factory
    from ..agents.selection import choose_provider, task_limits
    from ..chain.client import BOUND_WINDOWS, DEFAULT_TRANSFER_S
    from ..chain.types import ValidatorMode
    from ..errors import UsageError
    from ..sandbox.taskspec import load_task
    from .runtime import build

    spec = load_task(args.folder)
    if args.out.exists() and any(args.out.iterdir()):
        raise UsageError(f"output folder {args.out} is not empty")
    # every amount is checked before anything touches the chain
    payment = parse_eth(args.payment, "--payment") if args.payment is not None else None
    fee_given = parse_eth(args.fee, "--fee") if args.fee is not None else None
    settings = settings_from(args)
    runtime = build(settings)
    try:
        market = runtime.market
        limit = math.ceil(spec.time_limit)
        execute_window = settings.execute_window or limit + DEFAULT_TRANSFER_S
        if args.provider == "auto":
            lock_s = execute_window + BOUND_WINDOWS * settings.review_window
            chosen = choose_provider(market, payment, gpus=spec.gpus, lock_s=lock_s, time_limit=limit)
            if chosen is None:
                raise UsageError(
                    "no available provider with a free slot accepts this payment"
                    + f" for a {limit} s time limit"
                    + (f" and offers {spec.gpus} GPU(s)" if spec.gpus else "")
                    + f" and windows holding its stake {lock_s} s"
                )
            provider = chosen.address
            info = chosen.provider
        else:
            provider = args.provider
            info = market.provider(provider)
        payment = payment or max(1, info.price_for(*task_limits(spec, info)))
        mode, validator = {"random": (ValidatorMode.RANDOM, None), "none": (ValidatorMode.NONE, None)}.get(
            args.validator, (ValidatorMode.NAMED, args.validator)
        )
        if mode is ValidatorMode.NONE:
            fee = 0
        elif fee_given is not None:
            fee = fee_given
        else:
            # the setting, within what the market accepts for this payment (a cheap short task
            # cannot carry a fee above the stake it locks)
            fee = min(max(settings.validator_fee_wei, market.min_fee_for(payment)), market.lock_for(payment))
        agent = factory.requester_agent(settings, market, runtime.host, runtime.work, _reporter(args))
        task_id = agent.submit(
            args.folder,
            provider,
            payment,
            mode=mode,
            validator=validator,
            validator_fee=fee,
            execute_window=execute_window,
            review_window=settings.review_window,
        )
        outcome = agent.follow(task_id, args.out, rating=args.rating)
        _print_outcome(args, outcome)
        return 0 if outcome.ok else 1
    finally:
        runtime.close()


def cmd_resume(args: argparse.Namespace) -> int:
    from ..agents import factory
    from ..errors import UsageError
    from .runtime import build

    settings = settings_from(args)
    runtime = build(settings)
    try:
        market = runtime.market
        agent = factory.requester_agent(settings, market, runtime.host, runtime.work, _reporter(args))
        task = market.task(args.task_id)
        if task.state.name == "NONE":
            raise ChainError(f"task {args.task_id} does not exist")
        if task.requester != market.signer.address:
            raise UsageError(f"task {args.task_id} was submitted by {task.requester}, not by this wallet")
        if not agent.has_keys(args.task_id):
            raise UsageError(
                f"task {args.task_id} was not submitted from this machine: its keys are not here"
            )
        out = args.out or Path(f"result-{args.task_id}")
        agent.resume_hosting(args.task_id)
        outcome = agent.follow(args.task_id, out, rating=args.rating)
        _print_outcome(args, outcome)
        return 0 if outcome.ok else 1
    finally:
        runtime.close()


def _reporter(args: argparse.Namespace) -> Reporter:
    """Agent events as they happen: a line each, or a JSON object per line with --json."""
    return lambda event: print(event.as_json() if args.json else event.line(), flush=True)


def _print_outcome(args: argparse.Namespace, outcome: Outcome) -> None:
    if args.json:
        result = str(outcome.result_dir) if outcome.result_dir else None
        data = {"task": outcome.task_id, "state": outcome.state.label, "ok": outcome.ok, "result": result}
        print(json.dumps({**data, "message": outcome.message}), flush=True)
    else:
        print(f"task {outcome.task_id}: {outcome.state.label}: {outcome.message}")
