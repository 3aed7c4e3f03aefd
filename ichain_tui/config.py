"""Provides `Settings`: typed configuration (pydantic-settings) from the TOML file, `ICHAIN_*`
environment variables and command-line flags, and `save` for `ichain config set`.

Precedence: flags > environment > config file > defaults. A bad value is one line naming the
setting and where it came from (`setting chunks in config file /…/config.toml must be int…`).
`Settings(...)` alone is exactly what it is given; `Settings.load()` reads the file and the
environment. `ichain config show` prints the result.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from . import locations
from .amounts import WEI_PER_ETH, parse_eth
from .errors import ConfigError, UsageError

RUNTIME_IMAGE = "ichain-runtime:bookworm"  # the sandbox image install.sh builds offline
ENV_PREFIX = "ICHAIN_"


def _eth(raw: Any) -> Decimal:
    """An amount of ETH, exact: at most 18 decimals, finite, never negative, never a float."""
    if isinstance(raw, Decimal):
        raw = f"{raw:f}"
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise ValueError('must be an amount in ETH written as text, like "0.01"')
    try:
        return Decimal(parse_eth(str(raw), "it")) / WEI_PER_ETH
    except UsageError as exc:
        raise ValueError(str(exc).removeprefix("it ")) from None


Eth = Annotated[Decimal, BeforeValidator(_eth)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        validate_assignment=True,
        validate_default=False,
        allow_inf_nan=False,
        use_attribute_docstrings=True,
    )

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
    max_fee_gwei: Annotated[Decimal, Field(gt=0)] | None = None
    """Fee cap: most gwei per gas a transaction may offer, replacements included (None: no cap)."""
    market: str | None = None
    """Marketplace address (None: the one recorded by `ichain chain deploy` for this chain id)."""
    account: str | None = None
    """Address of the keystore to use (None: the only keystore)."""
    transport: Literal["direct", "tor"] = "direct"
    """How files travel: `direct` (TCP) or `tor` (onion services)."""
    bind_host: str = "127.0.0.1"
    """Address the chunk server listens on."""
    advertise_host: str | None = None
    """Address peers are told to fetch from (None: bind_host)."""
    rate_eth: Eth = Decimal("0.01")
    """Provider terms: ETH per hour of a task's time limit (a task pays at least rate x limit)."""
    gpu_rate_eth: Eth = Decimal("0")
    """Provider terms: ETH per GPU-hour a task asks for, on top of `rate_eth`."""
    slots: Annotated[int, Field(ge=1, le=256)] | None = None
    """Provider terms: tasks executed at once (None: one per GPU on a GPU box, else from the
    cores and memory, at most 8). Advertised on chain: a full provider is refused before money moves."""
    queue: Annotated[int, Field(ge=0, le=256)] = 0
    """Provider terms: tasks accepted beyond the slots, each waiting for one (a sweep queues runs
    with execute windows that cover the wait). Advertised on chain."""
    stake_eth: Eth = Decimal("0.05")
    """Stake a provider deposits when registering, in ETH."""
    execute_window: int | None = None
    """Seconds a provider has to deliver a result (None: the task's time limit plus 15 minutes
    for moving its files)."""
    review_window: int = 3600
    """Seconds for each later step (a verdict, an appeal, a claim)."""
    validator_fee_eth: Eth = Decimal("0.001")
    """Fee offered to the validator, in ETH (raised to the market's minimum share of the payment)."""
    result_retention_days: Annotated[int, Field(ge=7, le=3650)] = 30
    """Days a provider keeps serving a paid result its requester has not rated yet (at least 7: a
    requester away for a weekend, or with a full disk, still gets what it paid for)."""
    max_lock_hours: Annotated[int, Field(ge=1, le=24 * 365)] = 168
    """Provider terms: the longest, in hours, a task may hold this provider's stake (its execute
    window plus six review windows). Advertised on chain: a longer task is refused before any money
    moves, and a validation whose review window is over a quarter of it is declined for free."""
    named_validators: Literal["accept", "decline"] = "accept"
    """Provider policy for tasks whose validator the requester named: `accept` or `decline`
    (declining costs nothing; drawn validators are always accepted)."""
    chunks: int = 0
    """Chunks per file (0: as many as the CPU has threads)."""
    docker_image: str = RUNTIME_IMAGE
    """Runtime image for sandboxed tasks."""
    package_index: str = ""
    """Package index (a PEP 503 simple URL) that tasks' requirements.txt are installed from
    (empty: tasks with requirements are declined here)."""
    deps_time_s: float = 600.0
    """Provider policy: most seconds to download a task's requirements, and again to install them."""
    deps_max_mb: int = 4096
    """Provider policy: most MB of wheels a task's requirements may download."""
    deps_cpus: float = 2.0
    """Provider policy: CPUs of the container that installs a task's requirements."""
    container_runtime: Literal["runc", "runsc"] = "runc"
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
    Each running task has its own GPUs: a GPU is never shared between two tasks."""
    max_dataset_cache_mb: int | None = None
    """Provider policy: disk for sweeps' datasets kept between tasks, sealed, by root; the least
    recently used go first (None: a quarter of the free disk, at most 100 GiB; 0: keep none)."""
    tor_control_port: int | None = None
    """Attach to a running tor's control port (None: launch our own tor when transport is tor)."""
    tor_socks: str | None = None
    """host:port of the SOCKS port to fetch through (None: the tor we launch or attach to)."""
    keymap: dict[str, str] = {}
    """TUI keys by binding id, e.g. `keymap = { "submit.send" = "ctrl+t", "tab.pools" = "f2" }`
    (ids are listed in the TUI's help and palette; a JSON object in ICHAIN_KEYMAP or `config set`)."""

    @field_validator("keymap", mode="before")
    @classmethod
    def _keymap_from_text(cls, raw: Any) -> Any:
        if isinstance(raw, str):
            try:
                return json.loads(raw) if raw.strip() else {}
            except ValueError:
                raise ValueError('must be a JSON object like {"submit.send": "ctrl+t"}') from None
        return raw

    @field_validator("*", mode="before")
    @classmethod
    def _text_and_none(cls, raw: Any, info: Any) -> Any:
        """ "" and "none" mean None where a setting allows None; a TOML boolean is not a number."""
        field = cls.model_fields[info.field_name]
        optional = not field.is_required() and field.default is None
        if optional and (raw is None or (isinstance(raw, str) and raw.strip().lower() in ("", "none"))):
            return None
        if isinstance(raw, bool) and field.annotation is not bool:
            raise ValueError("must be a value of its own type, not true/false")
        return raw

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # `load` merges the file, the environment and the flags itself, so that an error can
        # name where the bad value came from; `Settings(...)` takes only what it is given.
        return (init_settings,)

    @classmethod
    def load(cls, path: Path | None = None, env: Mapping[str, str] | None = None, **flags: Any) -> Settings:
        path = path or locations.config_file()
        layers = [
            (f"config file {path}", _read_toml(path)),
            ("environment", _from_env(env)),
            ("command line", {k: v for k, v in flags.items() if v is not None}),
        ]
        return _build(layers)

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()

    # amounts in wei, exact: settings hold ETH as Decimal, never float
    @property
    def rate_wei(self) -> int:
        return int(self.rate_eth * WEI_PER_ETH)

    @property
    def gpu_rate_wei(self) -> int:
        return int(self.gpu_rate_eth * WEI_PER_ETH)

    @property
    def stake_wei(self) -> int:
        return int(self.stake_eth * WEI_PER_ETH)

    @property
    def validator_fee_wei(self) -> int:
        return int(self.validator_fee_eth * WEI_PER_ETH)

    @property
    def fee_cap_wei(self) -> int | None:
        """`max_fee_gwei` in wei per gas (None: no cap)."""
        return None if self.max_fee_gwei is None else int(self.max_fee_gwei * 10**9)


POLICY_FIELDS = (
    "max_memory_mb",
    "max_cpus",
    "max_pids",
    "max_time_s",
    "max_output_mb",
    "max_output_files",
    "disk_reserve_mb",
    "allowed_images",
    "max_gpus",
    "max_dataset_cache_mb",
    "container_runtime",
)


def _read_toml(path: Path) -> dict[str, Any]:
    """The config file through pydantic-settings' TOML source (a missing file is no settings)."""
    try:
        return dict(TomlConfigSettingsSource(Settings, toml_file=path)())
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is invalid: {exc}") from None


class _Environment(EnvSettingsSource):
    """pydantic-settings' reading of the `ICHAIN_<SETTING>` variables (other `ICHAIN_*` names,
    like ICHAIN_HOME, are not settings), from the process environment or a given mapping."""

    def __init__(self, env: Mapping[str, str] | None) -> None:
        self._given = env
        super().__init__(Settings, env_prefix=ENV_PREFIX, case_sensitive=False)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        if self._given is None:
            return super()._load_env_vars()
        return {key.lower(): value for key, value in self._given.items()}


def _from_env(env: Mapping[str, str] | None) -> dict[str, Any]:
    try:
        return dict(_Environment(env)())
    except SettingsError as exc:  # a structured setting (keymap) that is not JSON
        field = re.search(r'field "(\w+)"', str(exc))
        name = field.group(1) if field else "?"
        raise ConfigError(f"setting {name} in environment must be a JSON object") from None


def _build(layers: list[tuple[str, dict[str, Any]]]) -> Settings:
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for source, data in layers:
        for key, value in data.items():
            name = key.replace("-", "_")
            if name not in Settings.model_fields:
                raise ConfigError(f"unknown setting {key!r} in {source}")
            merged[name], origin[name] = value, source
    try:
        return Settings(**merged)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc, origin)) from None


_KINDS = {"int": "int", "float": "float", "bool": "bool", "string": "text", "literal": "one of"}


def _one_line(exc: ValidationError, origin: dict[str, str]) -> str:
    """The first problem as `setting NAME in SOURCE must be …, got VALUE`."""
    error = exc.errors(include_url=False)[0]
    name = str(error["loc"][0]) if error["loc"] else "?"
    where = origin.get(name, "the defaults")
    got = error.get("input")
    kind = error["type"].split("_")[0]
    if error["type"] == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"setting {name} in {where} must be one of {expected}, got {got!r}"
    if error["type"] == "value_error":
        reason = str(error.get("ctx", {}).get("error", error["msg"]))
        return f"setting {name} in {where} {reason}, got {got!r}"
    if error["type"] == "finite_number":
        return f"setting {name} in {where} must be a finite number, got {got!r}"
    if kind in _KINDS:
        return f"setting {name} in {where} must be {_KINDS[kind]}, got {got!r}"
    return f"setting {name} in {where}: {error['msg'].lower()}, got {got!r}"


def save(updates: dict[str, Any], path: Path | None = None) -> dict[str, Any]:
    """Write `updates` into the config file (validated first; an empty value removes the key so
    the default applies again); returns what the file now holds. The file is flat TOML."""
    path = path or locations.config_file()
    current = _read_toml(path)
    kept = {k.replace("-", "_"): v for k, v in updates.items() if v not in (None, "")}
    probe = _build([(f"config file {path}", current), ("the new values", kept)])
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
    if isinstance(value, dict):  # an inline table
        return (
            "{ " + ", ".join(f"{json.dumps(str(k))} = {json.dumps(str(v))}" for k, v in value.items()) + " }"
        )
    if isinstance(value, Decimal):
        return f'"{value:f}"'  # a TOML float would round an amount with 18 decimals
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string
