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
dataset = "data/"                   # a file or folder of the task sealed once and sent apart;
                                    # the sandbox mounts it read-only at /dataset ($ICHAIN_DATASET)
[comparator]                        # free-form settings for `task.py check`
tolerance = 0.01
[sweep]                             # a parameter grid for `ichain sweep run` (see agents/sweep_spec.py)
lr = [0.1, 0.01]

A run of a sweep carries `ichain-params.json` ({"lr": 0.01, ...}); each run sees its parameters
as `$ICHAIN_PARAMS` (JSON) and `$ICHAIN_PARAM_<NAME>` (upper case), and in that file.
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
PARAMS_FILE = "ichain-params.json"
DATASET_FILE = "ichain-dataset.json"  # {"root": "<64 hex>"}: the sealed dataset this run reads
ENTRY = "task.py"
DATASET_MOUNT = "/dataset"
MAX_PARAMS = 32
MAX_PARAMS_BYTES = 4096
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")
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
    dataset: str = ""  # the dataset's path inside the task folder as the requester wrote it ("": none)
    sweep: dict[str, Any] = field(default_factory=dict)  # the [sweep] table (read by the requester)
    params: dict[str, Any] = field(default_factory=dict)  # this run's parameters (ichain-params.json)
    dataset_root: str = ""  # the sealed dataset's root (ichain-dataset.json; committed by the task root)
    dataset_dir: Path | None = None  # set by the provider: the opened dataset, mounted at /dataset

    def params_json(self) -> str:
        return json.dumps(self.params, sort_keys=True)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["folder"] = str(self.folder)
        data["dataset_dir"] = str(self.dataset_dir) if self.dataset_dir else None
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
            elif key == "dataset":
                values[key] = _dataset_path(value, spec_path)
            elif key == "sweep":
                if not isinstance(value, dict):
                    raise TaskSpecError(f"{spec_path}: [sweep] must be a table")
                values[key] = value
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
    params_path = path / PARAMS_FILE
    if params_path.exists() or params_path.is_symlink():
        values["params"] = check_params(_small_json(params_path), str(params_path))
    dataset_path = path / DATASET_FILE
    if dataset_path.exists() or dataset_path.is_symlink():
        named = _small_json(dataset_path)
        root = named.get("root") if isinstance(named, dict) else None
        if not isinstance(root, str) or not re.fullmatch(r"[0-9a-f]{64}", root):
            raise TaskSpecError(f"{dataset_path}: root must be 64 lowercase hex digits")
        if not values.get("dataset"):
            raise TaskSpecError(f"{dataset_path} names a dataset but {SPEC_FILE} has no dataset setting")
        values["dataset_root"] = root
    return TaskSpec(folder=path.resolve(), **values)


def bundled_dataset(spec: TaskSpec) -> Path | None:
    """The folder to mount at /dataset when the dataset travelled inside the task's own package
    (a single task, not a sweep): the named folder, or for a file the folder holding it. None when
    it is missing or leads outside the task folder."""
    path = (spec.folder / spec.dataset).resolve()
    if not path.is_relative_to(spec.folder.resolve()) or not path.exists():
        return None
    return path if path.is_dir() else path.parent


def _dataset_path(value: Any, spec_path: Path) -> str:
    """`dataset`: a relative path inside the task folder, without `..`."""
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise TaskSpecError(f"{spec_path}: dataset must be a path inside the task folder, as a string")
    text = value.strip()
    parts = Path(text).parts
    if Path(text).is_absolute() or ".." in parts or not parts or any(p.startswith("~") for p in parts):
        raise TaskSpecError(
            f"{spec_path}: dataset {text[:80]!r} must be a relative path inside the task folder"
        )
    return text


def check_params(params: Any, where: str) -> dict[str, Any]:
    """A run's parameters: at most 32 identifiers, each a number, a short string or a boolean."""
    if not isinstance(params, dict) or len(params) > MAX_PARAMS:
        raise TaskSpecError(f"{where}: parameters must be a table of at most {MAX_PARAMS} names")
    for name, value in params.items():
        if not isinstance(name, str) or not IDENTIFIER.match(name):
            raise TaskSpecError(f"{where}: parameter name {str(name)[:40]!r} is not an identifier")
        plain = isinstance(value, (bool, int)) or (
            isinstance(value, float) and value == value and abs(value) != float("inf")
        )
        if not plain and not (isinstance(value, str) and len(value) <= 200 and "\n" not in value):
            raise TaskSpecError(f"{where}: parameter {name} must be a number, a boolean or a short string")
    if len(json.dumps(params, sort_keys=True)) > MAX_PARAMS_BYTES:
        raise TaskSpecError(f"{where}: parameters are larger than {MAX_PARAMS_BYTES} bytes as JSON")
    return dict(params)


def _small_json(path: Path) -> Any:
    if path.is_symlink() or not path.is_file():
        raise TaskSpecError(f"{path} is not a regular file")
    try:
        raw = path.read_bytes()
        if len(raw) > MAX_PARAMS_BYTES:
            raise TaskSpecError(f"{path} is larger than {MAX_PARAMS_BYTES} bytes")
        value = json.loads(raw)
    except OSError as exc:
        raise TaskSpecError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError:
        raise TaskSpecError(f"{path} is not JSON") from None
    return value


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
