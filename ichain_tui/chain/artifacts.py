"""Provides the compiled contract artifacts (ABI + bytecode) committed in contracts/build/ (shipped
inside the package by a wheel)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ..bundled import contracts_dir
from ..errors import ConfigError

CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "contracts"  # sources and node tools (checkout only)
BUILD_DIR = contracts_dir()


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str


@cache
def load(name: str) -> Artifact:
    path = BUILD_DIR / f"{name}.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"contract artifact missing: {path} (run: node contracts/scripts/compile.mjs)"
        ) from None
    return Artifact(name=data["contractName"], abi=data["abi"], bytecode=data["bytecode"])
