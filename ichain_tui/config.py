"""Provides `Settings`: typed configuration from the TOML file, `ICHAIN_*` env vars and flags.

Precedence: flags > environment > config file > defaults. `ichain config show` prints the result.
"""

from __future__ import annotations

import math
import os
import tomllib
import typing
from dataclasses import asdict, dataclass, fields
from decimal import Decimal
from pathlib import Path
from typing import Any

from . import locations
from .amounts import WEI_PER_ETH, parse_eth
from .errors import ConfigError, UsageError


RUNTIME_IMAGE = "ichain-runtime:bookworm"  # the sandbox image install.sh builds offline


@dataclass
class Settings:
    network: str = "local"
    """`embedded` (in-process eth-tester), `local` (anvil on 127.0.0.1:8545) or an http(s) JSON-RPC URL."""
    chain_id: int | None = None
    """Expected chain id; the node's must match (None: accept what the node reports)."""
    rpc_fallbacks: str = ""
    """Other JSON-RPC URLs of the same chain, comma-separated: used in turn when `network` fails."""
    rpc_patience_s: float = 30.0
    """How long one node request is retried (connection errors, timeouts, HTTP 429/5xx) before it fails."""
    confirmations: int | None = None
    """Blocks an event must be under before an agent acts on it (None: 0 on a development chain, 2 otherwise)."""
    max_fee_gwei: float | None = None
    """Fee cap: most gwei per gas a transaction may offer, replacements included (None: no cap)."""
    market: str | None = None
    """Marketplace address (None: the one recorded by `ichain chain deploy` for this chain id)."""
    account: str | None = None
    """Address of the keystore to use (None: the only keystore)."""
    transport: str = "direct"
    """How files travel: `direct` (TCP) or `tor` (onion services)."""
    bind_host: str = "127.0.0.1"
    """Address the chunk server listens on."""
    advertise_host: str | None = None
    """Address peers are told to fetch from (None: bind_host)."""
    price_eth: Decimal = Decimal("0.01")
    """Provider asking price per task, in ETH."""
    stake_eth: Decimal = Decimal("0.05")
    """Stake a provider deposits when registering, in ETH."""
    execute_window: int = 3600
    """Seconds a provider has to deliver a result."""
    review_window: int = 3600
    """Seconds for each later step (a verdict, an appeal, a claim)."""
    validator_fee_eth: Decimal = Decimal("0.001")
    """Fee offered to the validator, in ETH (raised to the market's minimum share of the payment)."""
    named_validators: str = "accept"
    """Provider policy for tasks whose validator the requester named: `accept` or `decline`
    (declining costs nothing; drawn validators are always accepted)."""
    chunks: int = 0
    """Chunks per file (0: as many as the CPU has threads)."""
    docker_image: str = RUNTIME_IMAGE
    """Runtime image for sandboxed tasks."""
    container_runtime: str = "runc"
    """Container runtime that isolates tasks: `runc` (Docker's default) or `runsc` (gVisor: a
    user-space kernel between the task and the host; must be registered with dockerd)."""
    max_memory_mb: int | None = None
    """Provider policy: most memory a task may ask for (None: half of this host's memory)."""
    max_cpus: float | None = None
    """Provider policy: most CPUs a task may ask for (None: all of this host's CPUs)."""
    max_pids: int | None = None
    """Provider policy: most processes and threads a task may ask for (None: pid_max / 8, at most 4096)."""
    max_time_s: int | None = None
    """Provider policy: longest wall time a task may ask for, in seconds (None: 24 hours)."""
    max_output_mb: int | None = None
    """Provider policy: largest result a task may ask for (None: a quarter of the free disk, at most 16 GiB)."""
    max_output_files: int | None = None
    """Provider policy: most files and folders in a result (None: 20,000)."""
    disk_reserve_mb: int | None = None
    """Provider policy: disk kept free; a task whose output would eat into it is declined (None: 5 % of the free disk)."""
    allowed_images: str = ""
    """Provider policy: comma-separated runtime images tasks may name (empty: only docker_image)."""
    max_gpus: int | None = None
    """Provider policy: most GPUs one task may have (None: every GPU detected; 0: no GPU tasks).
    Tasks run one at a time, so a GPU is never shared between two tasks."""
    tor_control_port: int | None = None
    """Attach to a running tor's control port (None: launch our own tor when transport is tor)."""
    tor_socks: str | None = None
    """host:port of the SOCKS port to fetch through (None: the tor we launch or attach to)."""

    @classmethod
    def load(cls, path: Path | None = None, env: dict[str, str] | None = None, **flags: Any) -> "Settings":
        settings = cls()
        path = path or locations.config_file()
        if path.exists():
            try:
                data = tomllib.loads(path.read_text())
            except (tomllib.TOMLDecodeError, OSError) as exc:
                raise ConfigError(f"config file {path} is invalid: {exc}") from None
            settings._apply(data, f"config file {path}")
        env = os.environ if env is None else env
        from_env = {f.name: env[f"ICHAIN_{f.name.upper()}"] for f in fields(cls) if f"ICHAIN_{f.name.upper()}" in env}
        settings._apply(from_env, "environment")
        settings._apply({k: v for k, v in flags.items() if v is not None}, "command line")
        return settings

    def _apply(self, data: dict[str, Any], source: str) -> None:
        known = {f.name: f for f in fields(self)}
        for key, raw in data.items():
            key = key.replace("-", "_")
            if key not in known:
                raise ConfigError(f"unknown setting {key!r} in {source}")
            setattr(self, key, _coerce(key, _HINTS[key], raw, source))
        if self.transport not in ("direct", "tor"):
            raise ConfigError(f"transport must be direct or tor, not {self.transport!r} ({source})")
        if self.container_runtime not in ("runc", "runsc"):
            raise ConfigError(f"container_runtime must be runc or runsc, not {self.container_runtime!r} ({source})")
        if self.named_validators not in ("accept", "decline"):
            raise ConfigError(f"named_validators must be accept or decline, not {self.named_validators!r} ({source})")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    # amounts in wei, exact: settings hold ETH as Decimal, never float
    @property
    def price_wei(self) -> int:
        return int(self.price_eth * WEI_PER_ETH)

    @property
    def stake_wei(self) -> int:
        return int(self.stake_eth * WEI_PER_ETH)

    @property
    def validator_fee_wei(self) -> int:
        return int(self.validator_fee_eth * WEI_PER_ETH)


_HINTS = typing.get_type_hints(Settings)


POLICY_FIELDS = ("max_memory_mb", "max_cpus", "max_pids", "max_time_s", "max_output_mb", "max_output_files",
                 "disk_reserve_mb", "allowed_images", "max_gpus", "container_runtime")


def save(updates: dict[str, Any], path: Path | None = None) -> dict[str, Any]:
    """Write `updates` into the config file (validated first; an empty value removes the key so
    the default applies again); returns what the file now holds. The file is flat TOML."""
    path = path or locations.config_file()
    current: dict[str, Any] = {}
    if path.exists():
        try:
            current = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, OSError) as exc:
            raise ConfigError(f"config file {path} is invalid: {exc}") from None
    probe = Settings()
    probe._apply({**current, **{k: v for k, v in updates.items() if v not in (None, "")}}, "the new values")
    for key, value in updates.items():
        key = key.replace("-", "_")
        if value in (None, ""):
            current.pop(key, None)
        else:
            current[key] = getattr(probe, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{key} = {_toml_value(value)}\n" for key, value in sorted(current.items()))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return current


def _toml_value(value: Any) -> str:
    if isinstance(value, Decimal):
        return f'"{value:f}"'  # a TOML float would round an amount with 18 decimals
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    import json

    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _coerce(key: str, hint: Any, raw: Any, source: str) -> Any:
    """`raw` (from TOML, the environment or a flag) as the setting's declared type: int, float,
    bool or str, or None where the type allows it ("" and "none" mean None there)."""
    args = typing.get_args(hint)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), hint) if args else hint
    if raw is None or (optional and isinstance(raw, str) and raw.strip().lower() in ("", "none")):
        if optional:
            return None
        raise ConfigError(f"setting {key} in {source} needs a value")
    name = getattr(base, "__name__", str(base))
    problem = ConfigError(f"setting {key} in {source} must be {name}, got {raw!r}")
    if base is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise problem
    if isinstance(raw, bool):  # TOML true is not the number 1
        raise problem
    if base is Decimal:  # an amount of ETH: exact, at most 18 decimals, never negative
        try:
            return Decimal(parse_eth(str(raw), f"setting {key} in {source}")) / WEI_PER_ETH
        except UsageError as exc:
            raise ConfigError(str(exc)) from None
    try:
        if base is int:
            if isinstance(raw, float) and not raw.is_integer():
                raise ValueError
            return int(str(raw).strip()) if isinstance(raw, str) else int(raw)
        if base is float:
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError
            return value
        return str(raw)
    except (TypeError, ValueError):
        raise problem from None
