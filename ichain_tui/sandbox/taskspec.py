"""Provides `TaskSpec`: a task folder (`task.py` + data) and its optional, validated `ichain.toml`.

image = "registry.example.org/ml@sha256:<64 hex>"   # a registry image, pinned by digest
                                    # (default: the provider's runtime image; tags are refused)
gpus = 0                            # GPUs wanted (0 = none, -1 = all)
time_limit = 600                    # seconds of wall clock per run
memory_mb = 1024                    # memory limit (swap included)
cpus = 1.0                          # CPU quota
pids = 128                          # process/thread limit
output_mb = 256                     # cap on the size of the result folder
packages = ["six==1.17.0"]          # Python packages, as requirements.txt lines (added to it)
[comparator]                        # free-form settings for `task.py check`
tolerance = 0.01
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..config import RUNTIME_IMAGE
from ..errors import UsageError
from ..untrusted import UntrustedInputError, load_toml

DEFAULT_IMAGE = RUNTIME_IMAGE
SPEC_FILE = "ichain.toml"
ENTRY = "task.py"
MAX_SPEC_BYTES = 64 * 1024
MAX_COMPARATOR_BYTES = 16 * 1024  # it travels to the container as an environment variable


MAX_PACKAGES = 200
PINNED = re.compile(r"^[a-z0-9][a-z0-9._/:-]{0,200}@sha256:[0-9a-f]{64}$")


def is_pinned(image: str) -> bool:
    """A registry image named by its digest (`repository@sha256:<64 hex>`)."""
    return bool(PINNED.match(image))


class TaskSpecError(UsageError):
    title = "Invalid task"


@dataclass(frozen=True)
class TaskSpec:
    folder: Path
    image: str = ""  # empty: the provider's runtime image
    gpus: int = 0
    time_limit: float = 600.0
    memory_mb: int = 1024
    cpus: float = 1.0
    pids: int = 128
    output_mb: int = 256
    packages: tuple[str, ...] = ()  # requirement lines, added to requirements.txt's
    comparator: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["folder"] = str(self.folder)
        return data

    def comparator_json(self) -> str:
        return json.dumps(self.comparator, sort_keys=True)


_LIMITS: dict[str, tuple[type, float, float]] = {
    "gpus": (int, -1, 16),
    "time_limit": (float, 1, 7 * 86400),
    "memory_mb": (int, 16, 1024 * 1024),
    "cpus": (float, 0.01, 256),
    "pids": (int, 8, 65536),
    "output_mb": (int, 1, 1024 * 1024),
}


def load_task(folder: str | Path) -> TaskSpec:
    """Validate a task folder; errors name the file and the setting."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise TaskSpecError(f"{path} is not a folder")
    if not (path / ENTRY).is_file():
        raise TaskSpecError(f"{path} has no {ENTRY} (a task is a folder with task.py and its data)")
    spec_path = path / SPEC_FILE
    values: dict[str, Any] = {}
    if spec_path.exists() or spec_path.is_symlink():
        if spec_path.is_symlink() or not spec_path.is_file():
            raise TaskSpecError(f"{spec_path} is not a regular file")
        try:
            raw = load_toml(spec_path.read_bytes(), str(spec_path), MAX_SPEC_BYTES)
        except UntrustedInputError as exc:
            raise TaskSpecError(str(exc)) from None
        except OSError as exc:
            raise TaskSpecError(f"cannot read {spec_path}: {exc.strerror or exc}") from None
        for key, value in raw.items():
            if key == "comparator":
                values[key] = _comparator(value, spec_path)
            elif key == "image":
                if not isinstance(value, str) or not value.strip():
                    raise TaskSpecError(f"{spec_path}: image must be a non-empty string")
                if not is_pinned(value.strip()):
                    raise TaskSpecError(
                        f"{spec_path}: image {value.strip()[:80]!r} is not pinned: name a registry image "
                        "by digest (name@sha256:…; a tag can change under you), or leave image out "
                        "for the provider's runtime image"
                    )
                values[key] = value.strip()
            elif key == "packages":
                if (
                    not isinstance(value, list)
                    or len(value) > MAX_PACKAGES
                    or not all(isinstance(v, str) and 0 < len(v) <= 200 and "\n" not in v for v in value)
                ):
                    raise TaskSpecError(
                        f"{spec_path}: packages must be a list of at most {MAX_PACKAGES} requirement strings"
                    )
                values[key] = tuple(v.strip() for v in value)
            elif key in _LIMITS:
                kind, low, high = _LIMITS[key]
                if (
                    isinstance(value, bool)
                    or not isinstance(value, (int, float))
                    or (kind is int and not isinstance(value, int))
                ):
                    raise TaskSpecError(
                        f"{spec_path}: {key} must be {'an integer' if kind is int else 'a number'}"
                    )
                if not low <= value <= high:
                    raise TaskSpecError(f"{spec_path}: {key} = {value} is outside {low:g}..{high:g}")
                values[key] = kind(value)
            else:
                raise TaskSpecError(f"{spec_path}: unknown setting {key!r}")
    return TaskSpec(folder=path.resolve(), **values)


def _comparator(value: Any, spec_path: Path) -> dict[str, Any]:
    """The [comparator] table as JSON the container receives: plain values only, size-capped."""
    if not isinstance(value, dict):
        raise TaskSpecError(f"{spec_path}: [comparator] must be a table")
    try:
        text = json.dumps(value, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        raise TaskSpecError(
            f"{spec_path}: [comparator] may hold only strings, numbers, booleans, "
            "arrays and tables (no dates, no inf or nan)"
        ) from None
    if len(text) > MAX_COMPARATOR_BYTES:
        raise TaskSpecError(f"{spec_path}: [comparator] is larger than {MAX_COMPARATOR_BYTES} bytes as JSON")
    return value
