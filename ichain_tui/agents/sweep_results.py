"""Provides what a sweep shows: `Preview` (the first wave and its cost, before anything is sent),
`metrics_of` (a run's metrics.json, plain values only) and `best_run` (by the sweep's metric)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..amounts import format_eth
from .sweep_plan import Place
from .sweep_spec import SweepSpec
from .sweep_state import DONE, Run, SweepState


@dataclass(frozen=True)
class Preview:
    """What the first wave costs, before anything is sent."""

    runs: int
    placed: list[Place]
    total_wei: int  # escrow of the first wave (payments + fees)
    gas_wei: int  # the createTasks transaction's gas at today's price
    budget_wei: int
    providers: int

    def lines(self) -> list[str]:
        rounds = max((p.round for p in self.placed), default=0) + 1
        by_provider: dict[str, int] = {}
        for p in self.placed:
            by_provider[p.provider] = by_provider.get(p.provider, 0) + 1
        out = [
            f"{self.runs} runs; {len(self.placed)} placed now on {self.providers} providers"
            f" in {rounds} round{'s' if rounds != 1 else ''}",
        ]
        for address, count in sorted(by_provider.items(), key=lambda kv: -kv[1]):
            payment = sum(p.payment for p in self.placed if p.provider == address)
            out.append(f"  {address}: {count} runs, {format_eth(payment)} at its rate x limit")
        out.append(
            f"escrow {format_eth(self.total_wei)} (payments + validator fees), gas about "
            f"{format_eth(self.gas_wei)}; budget {format_eth(self.budget_wei)} (retries included)"
        )
        return out


def metrics_of(result_dir: Path) -> dict[str, Any]:
    """The run's metrics.json (numbers, short strings), or {} when it has none."""
    path = Path(result_dir) / "metrics.json"
    try:
        if path.stat().st_size > 64 * 1024:
            return {}
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        str(k)[:40]: v
        for k, v in list(data.items())[:50]
        if (isinstance(v, (int, float)) and not isinstance(v, bool)) or (isinstance(v, str) and len(v) <= 80)
    }


def best_run(state: SweepState) -> Run | None:
    """The done run with the best value of the sweep's metric."""
    spec = SweepSpec.from_dict(state.spec)
    if not spec.metric:
        return None
    best: Run | None = None
    for run in state.runs:
        value = run.metrics.get(spec.metric)
        if run.status != DONE or not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        if best is None or spec.better(float(value), float(best.metrics[spec.metric])):
            best = run
    return best
