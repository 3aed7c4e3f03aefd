"""Provides the compiled contract artifacts (ABI + bytecode) committed in contracts/build/ (shipped
inside the package by a wheel)."""

from __future__ import annotations

import hashlib
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


def compiler() -> str:
    """The solc version (without its commit) the shipped Marketplace was compiled with."""
    path = BUILD_DIR / "Marketplace.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return "unknown"
    return str(data.get("compiler", {}).get("solc", "unknown")).split("+")[0]


def fingerprint() -> str:
    """Names the shipped contracts: 12 hex digits of the SHA-256 of their deployed bytecode,
    the solc version and the EVM version, e.g. `contracts 3f2a9c1b7d4e (solc 0.8.37, cancun)`."""
    digest = hashlib.sha256()
    evm = "unknown"
    for path in sorted(BUILD_DIR.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        digest.update(path.stem.encode() + b"\0" + str(data.get("deployedBytecode", "")).encode())
        evm = str(data.get("compiler", {}).get("evmVersion", evm))
    return f"contracts {digest.hexdigest()[:12]} (solc {compiler()}, {evm})"
