"""Provides `ichain provide --headless`: run a provider (and validator) until SIGTERM.

One line per state change on stdout (JSON with --json). On SIGTERM or Ctrl-C it stops taking
tasks, lets the running ones finish within --grace seconds or hands them back, and exits 0.
A `slots` line shows each slot (task, GPUs, elapsed of its limit, phase, last progress) and the
validations running, whenever one changes and every minute while busy.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from decimal import Decimal
from typing import TYPE_CHECKING

from ..amounts import WEI_PER_ETH, parse_eth
from ..cli_values import eth_amount, seconds
from ..errors import UsageError
from .common import settings_from

if TYPE_CHECKING:
    from ..agents.provider import ProviderAgent


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("provide", help="offer this machine's compute (headless provider)")
    p.add_argument("--headless", action="store_true", help="no TUI: log lines until SIGTERM")
    p.add_argument("--rate", type=eth_amount, help="ETH per hour of a task's time limit")
    p.add_argument("--gpu-rate", type=eth_amount, help="ETH per GPU-hour a task asks for, on top of --rate")
    p.add_argument(
        "--slots", type=int, help="tasks run at once (default: one per GPU, else from cores and memory)"
    )
    p.add_argument("--queue", type=int, help="tasks accepted beyond the slots, waiting for one (default 0)")
    p.add_argument("--stake", type=eth_amount, help="stake to deposit when registering, in ETH")
    p.add_argument("--transport", choices=["direct", "tor"])
    p.add_argument(
        "--named-validators",
        choices=["accept", "decline"],
        help="take tasks whose validator the requester named (default: accept)",
    )
    p.add_argument(
        "--grace",
        type=seconds(0, 7 * 86400),
        default=60.0,
        help="seconds to finish the running tasks on SIGTERM",
    )
    p.add_argument("--json", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true", help="debug lines in the log file")
    p.set_defaults(func=cmd_provide)


def slot_status(agent: ProviderAgent) -> str:
    """One line: each slot's task (GPUs, elapsed of its limit, phase, last progress), then the
    validations and tasks waiting for a slot."""
    return "; ".join(view.describe() for view in agent.duties())


def cmd_provide(args: argparse.Namespace) -> int:
    from .. import logs
    from ..agents import factory
    from ..agents.events import AgentEvent
    from ..sandbox import policy as policies
    from ..sandbox.deps import DepsLimits
    from ..sandbox.gpu import detect_gpus
    from ..sandbox.runner import open_sandbox
    from .runtime import build

    settings = settings_from(args)
    if args.rate is not None:
        settings.rate_eth = Decimal(parse_eth(args.rate, "--rate")) / WEI_PER_ETH
    if args.gpu_rate is not None:
        settings.gpu_rate_eth = Decimal(parse_eth(args.gpu_rate, "--gpu-rate")) / WEI_PER_ETH
    if args.slots is not None:
        if not 1 <= args.slots <= 256:
            raise UsageError(f"--slots must be 1 to 256, got {args.slots}")
        settings.slots = args.slots
    if args.queue is not None:
        if not 0 <= args.queue <= 256:
            raise UsageError(f"--queue must be 0 to 256, got {args.queue}")
        settings.queue = args.queue
    if args.stake is not None:
        settings.stake_eth = Decimal(parse_eth(args.stake, "--stake")) / WEI_PER_ETH
    if args.transport:
        settings.transport = args.transport
    if args.named_validators:
        settings.named_validators = args.named_validators
    lock = threading.Lock()
    log_path = logs.setup("provider", verbose=args.verbose)
    log = logging.getLogger("ichain_tui.provider")

    def report(event: AgentEvent) -> None:
        log.log(
            logging.WARNING if event.kind in ("error", "quarantined", "declined") else logging.INFO,
            event.line(),
        )
        with lock:
            print(event.as_json() if args.json else event.line(), flush=True)

    runtime = build(settings)
    policy = policies.from_settings(settings, runtime.work, len(detect_gpus()))
    sandbox = open_sandbox(
        settings.docker_image,
        policy.runtime,
        policy.max_output_files,
        settings.package_index,
        DepsLimits.from_settings(settings),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        agent = factory.provider_agent(
            settings, runtime.market, sandbox, runtime.host, runtime.work, report, policy=policy
        )
        agent.start_providing()
        report(
            AgentEvent(
                "provider",
                "listening",
                None,
                f"{runtime.market.signer.address} serving on "
                f"{runtime.host.address} ({settings.transport}); "
                f"runtime {policy.runtime}; log {log_path}",
            )
        )
        loop_stop = threading.Event()
        worker = threading.Thread(target=agent.run, args=(loop_stop,), name="provider-loop", daemon=True)
        worker.start()
        shown: list[tuple[str, int, str, int | None]] = []
        shown_at = 0.0
        while not stop.wait(0.5):
            # a line when a slot or a validation changes phase, and every minute while busy
            views = agent.duties()
            now_shown = [(v.duty, v.task_id, v.phase, v.slot) for v in views]
            if now_shown != shown or (views and time.monotonic() - shown_at > 60):
                shown, shown_at = now_shown, time.monotonic()
                report(AgentEvent("provider", "slots", None, slot_status(agent) or "all slots free"))
            if not worker.is_alive():
                print("ichain: provider loop ended unexpectedly", file=sys.stderr)
                try:  # requesters must not keep choosing a provider that is not running
                    agent.stop_providing()
                except Exception:
                    log.exception("could not mark this provider unavailable")
                return 1
        report(AgentEvent("provider", "stopping", agent.busy_with, "SIGTERM: finishing or handing back work"))
        agent.shutdown(grace=args.grace)
        loop_stop.set()
        worker.join(timeout=args.grace + 30)
        report(AgentEvent("provider", "stopped", None, "bye"))
        return 0
    finally:
        runtime.close()
