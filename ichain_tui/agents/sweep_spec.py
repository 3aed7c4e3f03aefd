"""Provides `SweepSpec`: what one experiment runs — a parameter grid (every combination, in order)
or an explicit list of runs, read from the `[sweep]` table of a task's `ichain.toml` and the
command line — and how: at most `max_parallel` runs executing at once, `max_retries` more tries
per run elsewhere, a budget in wei, the metric that ranks runs.

    [sweep]
    lr = [0.1, 0.01, 0.001]
    seed = [1, 2, 3, 4]          # 3 x 4 = 12 runs
    max_parallel = 8
    max_retries = 2
    budget_eth = "0.5"
    metric = "accuracy"          # a key of each run's metrics.json (or its progress reports)
    goal = "max"                 # or "min" (a loss)

Command-line values (`--grid lr=0.1,0.01`) replace the table's; `runs = [{lr = 0.1, seed = 1}, ...]`
lists runs instead of a grid. Bad input is one line before anything is paid.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from ..amounts import WEI_PER_ETH
from ..errors import UsageError
from ..sandbox.taskspec import IDENTIFIER, TaskSpecError, check_params

MAX_RUNS = 1000
SETTINGS = {"max_parallel", "max_retries", "budget_eth", "metric", "goal", "runs"}


class SweepSpecError(UsageError):
    title = "Invalid sweep"


@dataclass(frozen=True)
class SweepSpec:
    grid: dict[str, list[Any]] = field(default_factory=dict)
    listed: list[dict[str, Any]] = field(default_factory=list)  # explicit runs (instead of a grid)
    max_parallel: int = 8
    max_retries: int = 2
    budget_wei: int | None = None  # None: the planned cost, confirmed by the user
    metric: str = ""
    goal: str = "max"

    def runs(self) -> list[dict[str, Any]]:
        """Each run's parameters: the listed runs, or every combination of the grid (the last
        parameter varies fastest)."""
        if self.listed:
            return [dict(r) for r in self.listed]
        if not self.grid:
            return [{}]
        names = list(self.grid)
        return [dict(zip(names, values, strict=True)) for values in itertools.product(*self.grid.values())]

    def better(self, a: float, b: float) -> bool:
        return a > b if self.goal == "max" else a < b

    def as_dict(self) -> dict[str, Any]:
        return {
            "grid": self.grid,
            "listed": self.listed,
            "max_parallel": self.max_parallel,
            "max_retries": self.max_retries,
            "budget_wei": self.budget_wei,
            "metric": self.metric,
            "goal": self.goal,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepSpec:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def parse_value(text: str) -> Any:
    """A command-line value: an integer, a number, true/false, else the text."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            continue
        if isinstance(value, float) and not math.isfinite(value):
            break
        return value
    return text.strip()


def parse_grid_arg(text: str) -> tuple[str, list[Any]]:
    """`lr=0.1,0.01` -> ("lr", [0.1, 0.01])."""
    name, sep, values = text.partition("=")
    name = name.strip()
    if not sep or not values.strip():
        raise SweepSpecError(f"--grid {text!r}: write NAME=VALUE,VALUE,...")
    if not IDENTIFIER.match(name):
        raise SweepSpecError(f"parameter name {name[:40]!r} is not an identifier (letters, digits, _)")
    return name, [parse_value(v) for v in values.split(",")]


def _budget(value: Any) -> int:
    try:
        eth = Decimal(str(value))
    except InvalidOperation:
        raise SweepSpecError(f"budget {str(value)[:40]!r} is not an amount of ETH") from None
    if not eth.is_finite() or eth <= 0:
        raise SweepSpecError(f"budget {value} must be a positive amount of ETH")
    return int(eth * WEI_PER_ETH)


def build(
    table: dict[str, Any],
    grid_args: Sequence[str] = (),
    max_parallel: int | None = None,
    max_retries: int | None = None,
    budget_eth: str | None = None,
    metric: str | None = None,
) -> SweepSpec:
    """The sweep of a `[sweep]` table and command-line values (which win)."""
    grid: dict[str, list[Any]] = {}
    settings: dict[str, Any] = {}
    for key, value in table.items():
        if key in SETTINGS:
            settings[key] = value
            continue
        if not isinstance(key, str) or not IDENTIFIER.match(key):
            raise SweepSpecError(f"[sweep] parameter name {str(key)[:40]!r} is not an identifier")
        grid[key] = value if isinstance(value, list) else [value]
    for arg in grid_args:
        name, values = parse_grid_arg(arg)
        grid[name] = values
    for name, values in grid.items():
        if not values:
            raise SweepSpecError(f"parameter {name} has no values")
        try:
            for v in values:
                check_params({name: v}, f"parameter {name}")
        except TaskSpecError as exc:
            raise SweepSpecError(str(exc)) from None
    listed = settings.get("runs", [])
    if listed and grid:
        raise SweepSpecError("[sweep] lists runs and a grid: use one")
    if not isinstance(listed, list) or not all(isinstance(r, dict) for r in listed):
        raise SweepSpecError("[sweep] runs must be a list of tables")
    for run in listed:
        try:
            check_params(run, "a listed run")
        except TaskSpecError as exc:
            raise SweepSpecError(str(exc)) from None
    count = len(listed) if listed else math.prod(len(v) for v in grid.values())
    if count > MAX_RUNS:
        raise SweepSpecError(f"the sweep has {count} runs; at most {MAX_RUNS}")
    if count == 0 or (not grid and not listed):
        raise SweepSpecError("no parameters: add a [sweep] table to ichain.toml or --grid NAME=V1,V2")
    parallel = max_parallel if max_parallel is not None else settings.get("max_parallel", 8)
    retries = max_retries if max_retries is not None else settings.get("max_retries", 2)
    for name, value, low, high in (("max_parallel", parallel, 1, 256), ("max_retries", retries, 0, 10)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise SweepSpecError(f"{name} must be an integer from {low} to {high}, got {value!r}")
    budget = budget_eth if budget_eth is not None else settings.get("budget_eth")
    goal = settings.get("goal", "max")
    if goal not in ("max", "min"):
        raise SweepSpecError(f'goal must be "max" or "min", got {str(goal)[:20]!r}')
    chosen_metric = metric if metric is not None else settings.get("metric", "")
    if not isinstance(chosen_metric, str) or (chosen_metric and not IDENTIFIER.match(chosen_metric)):
        raise SweepSpecError(f"metric {str(chosen_metric)[:40]!r} is not a name of metrics.json")
    return SweepSpec(
        grid=grid,
        listed=[dict(r) for r in listed],
        max_parallel=parallel,
        max_retries=retries,
        budget_wei=_budget(budget) if budget is not None else None,
        metric=chosen_metric,
        goal=goal,
    )
