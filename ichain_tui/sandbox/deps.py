"""Provides the per-task dependency image: a task that ships `requirements.txt` runs in an image
derived from the runtime image with those packages in `/opt/deps`.

The requirements are data, never pip input: each line must be an exact pin (`requirements.py`),
and pip is given only the canonical lines of those pins. Then two steps, each with its own limits:

1. **Download** (on the host, the only step with a network): `pip download` of wheels only
   (`--only-binary=:all:`: no package code runs to build anything) from the one package index
   the provider configured (`package_index`), for the runtime's Python and platform. pip runs
   isolated (no configuration file, no environment but what is set here), never as root (as
   `nobody`, from a copy of pip it can read, when the provider is root), and reaches the
   network only through `CappedProxy`, which refuses a package whose size does not fit
   `deps_max_mb` and stops the download the moment the running count passes it.
2. **Install** (in a container of the runtime image: no network, all capabilities dropped,
   memory, CPU, pids and time capped): the wheels are unpacked into `/opt/deps` by Python's
   `zipfile` (which refuses paths that leave the folder); the container is committed as
   `ichain-deps:<hash>`.

The image is named by the hash of the runtime image's id and the canonical requirements, so the
provider, the validator and the requester's `task try` build the same one, and a second task
with the same requirements reuses it. A failure is one `DepsError` with pip's last lines.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docker.errors import DockerException, ImageNotFound

from . import seccomp
from .download_cap import CappedProxy
from .engine import SandboxError
from .requirements import RequirementRefused, canonical_text, parse_requirements

REQUIREMENTS = "requirements.txt"
MAX_REQUIREMENTS_BYTES = 64 * 1024
DEPS_DIR = "/opt/deps"
INSTALL_MEMORY_MB = 2048
PIP_UID = PIP_GID = 65534  # nobody: pip never runs as root


@dataclass(frozen=True)
class DepsLimits:
    """The provider's caps on building a task's dependency image (settings `deps_*`)."""

    time_s: float = 600.0  # for the download, and again for the install
    max_mb: int = 4096  # of wheels downloaded
    cpus: float = 2.0  # of the install container

    @classmethod
    def from_settings(cls, settings: Any) -> DepsLimits:
        return cls(float(settings.deps_time_s), int(settings.deps_max_mb), float(settings.deps_cpus))


PYTHON_VERSION = "3.11"  # Debian bookworm's, the runtime image's
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64", "linux_x86_64")

_INSTALL = f"""
import sys, zipfile, pathlib
target = pathlib.Path({DEPS_DIR!r})
target.mkdir(parents=True, exist_ok=True)
wheels = sorted(pathlib.Path('/wheels').glob('*.whl'))
for wheel in wheels:
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():
            name = info.filename
            if name.startswith('/') or '..' in pathlib.PurePosixPath(name).parts:
                sys.exit('refusing ' + wheel.name + ': entry ' + name[:100])
        z.extractall(target)
    print('installed', wheel.name, flush=True)
"""


class DepsError(SandboxError):
    """The task's dependencies could not be downloaded or installed (the message says why)."""


def requirements_of(folder: Path, packages: tuple[str, ...] = ()) -> str | None:
    """The canonical pins of the task's `requirements.txt` and of `packages` (from `ichain.toml`);
    None: neither lists any. A line that is not an exact pin is one `DepsError` naming it."""
    path = Path(folder) / REQUIREMENTS
    text = ""
    if path.exists() or path.is_symlink():
        if not path.is_file() or path.is_symlink() or path.stat().st_size > MAX_REQUIREMENTS_BYTES:
            raise DepsError(f"{REQUIREMENTS} must be a file of at most {MAX_REQUIREMENTS_BYTES} bytes")
        text = path.read_text(errors="replace")
    if packages:
        text = text.rstrip("\n") + ("\n" if text else "") + "\n".join(packages) + "\n"
    try:
        pins = parse_requirements(text)
    except RequirementRefused as exc:
        raise DepsError(f"{REQUIREMENTS}: {exc}") from None
    return canonical_text(pins) if pins else None


def deps_tag(base_image_id: str, requirements: str) -> str:
    digest = hashlib.sha256(base_image_id.encode() + b"\0" + requirements.encode()).hexdigest()
    return f"ichain-deps:{digest[:24]}"


def ensure_deps_image(
    dc: Any, base: str, requirements: str, index_url: str, limits: DepsLimits | None = None
) -> tuple[str, bool]:
    """(the image with the requirements installed, whether it was built now)."""
    if not index_url:
        raise DepsError(
            "the task has a requirements.txt and this machine names no package_index to install from"
        )
    try:
        base_id = dc.images.get(base).id
    except ImageNotFound:
        raise DepsError(f"runtime image {base} is missing: run `ichain image build`") from None
    tag = deps_tag(base_id, requirements)
    try:
        dc.images.get(tag)
        return tag, False
    except ImageNotFound:
        pass
    limits = limits or DepsLimits()
    with tempfile.TemporaryDirectory(prefix="ichain-deps-") as tmp:
        wheels = Path(tmp) / "wheels"
        wheels.mkdir()
        (Path(tmp) / REQUIREMENTS).write_text(requirements)
        download(Path(tmp) / REQUIREMENTS, wheels, index_url, limits)
        install(dc, base, wheels, tag, limits)
    return tag, True


def download(requirements: Path, dest: Path, index_url: str, limits: DepsLimits | None = None) -> None:
    """Wheels of the requirements (and what they need) from `index_url` only, into `dest`, by an
    unprivileged pip whose only way out is a proxy that stops it at `limits.max_mb`."""
    limits = limits or DepsLimits()
    cap = limits.max_mb * 1024 * 1024
    with tempfile.TemporaryDirectory(prefix="ichain-pip-") as tmp:
        work = Path(tmp)
        shutil.copyfile(requirements, work / REQUIREMENTS)
        wheels = work / "wheels"
        user = _unprivileged(work, wheels)
        done, proxy = _run_pip(work, wheels, index_url, limits, user)
        if proxy.exceeded:
            what = f" ({', '.join(proxy.refused[:3])})" if proxy.refused else ""
            raise DepsError(f"the requirements are more than this provider's {limits.max_mb} MB{what}")
        if done.returncode != 0:
            tail = " | ".join(
                line.strip() for line in (done.stderr or done.stdout).splitlines()[-3:] if line.strip()
            )
            raise DepsError(f"pip could not get the requirements: {tail[:400]}")
        size = sum(p.stat().st_size for p in wheels.iterdir())
        if size > cap:
            raise DepsError(
                f"the requirements are {size >> 20} MB, more than this provider's {limits.max_mb} MB"
            )
        for wheel in wheels.iterdir():
            if wheel.is_file() and not wheel.is_symlink():
                shutil.move(wheel, dest / wheel.name)  # a rename on one filesystem: pip's owner stays


def _run_pip(
    work: Path, wheels: Path, index_url: str, limits: DepsLimits, user: dict[str, Any]
) -> tuple[subprocess.CompletedProcess[str], CappedProxy]:
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    with CappedProxy(limits.max_mb * 1024 * 1024) as proxy:
        cmd = [
            *_pip_command(work),
            "download",
            "--isolated",  # no pip.conf, no PIP_* variables: only what is said here
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--no-input",
            "--only-binary=:all:",
            "--python-version",
            PYTHON_VERSION,
            "--implementation",
            "cp",
            *platforms,
            "--index-url",
            index_url,
            "--proxy",
            proxy.url,
            "--retries",
            "1",
            "--dest",
            str(wheels),
            "-r",
            str(work / REQUIREMENTS),
        ]
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(work / "home"),
            "TMPDIR": str(work / "tmp"),
            "LANG": "C.UTF-8",
            "PIP_CONFIG_FILE": os.devnull,
        }
        try:
            done = subprocess.run(
                cmd,
                check=False,
                capture_output=True,
                text=True,
                timeout=limits.time_s,
                env=env,
                cwd=work,
                **user,
            )
        except subprocess.TimeoutExpired:
            raise DepsError(f"downloading the requirements took longer than {limits.time_s:.0f} s") from None
    return done, proxy


def _pip_command(work: Path) -> list[str]:
    """pip from a copy in `work` (readable by the unprivileged user even when this program lives
    in a folder only root can read), run by the base interpreter in isolated mode (-I: no
    PYTHON* variables, no user site)."""
    spec = importlib.util.find_spec("pip")
    if spec is None or not spec.submodule_search_locations:
        raise DepsError("pip is not installed beside ichain; it downloads the task's requirements")
    source = Path(next(iter(spec.submodule_search_locations)))
    copy = work / "pip-lib"
    shutil.copytree(source, copy / "pip", ignore=shutil.ignore_patterns("__pycache__"))
    stub = f"import sys; sys.path.insert(0, {str(copy)!r}); from pip._internal.cli.main import main; sys.exit(main())"
    return [_interpreter(), "-I", "-c", stub]


def _interpreter() -> str:
    """A Python the unprivileged user can run: ours, or else the system's (pyenv and pipx keep
    theirs in folders only root can enter)."""
    for candidate in (os.path.realpath(sys.executable), "/usr/bin/python3", "/usr/local/bin/python3"):
        if os.geteuid() != 0 or _others_can_run(Path(os.path.realpath(candidate))):
            return os.path.realpath(candidate)
    raise DepsError(
        "no Python that an unprivileged user can run (pip never runs as root): install python3 (apt-get install python3)"
    )


def _others_can_run(path: Path) -> bool:
    try:
        if not path.is_file() or path.stat().st_mode & 0o005 != 0o005:
            return False
        return all(parent.stat().st_mode & 0o001 for parent in path.parents)
    except OSError:
        return False


def _unprivileged(work: Path, dest: Path) -> dict[str, Any]:
    """Arguments that make pip run as `nobody` when this process is root (else as ourselves), with
    the folders it writes owned by that user."""
    for folder in (work / "home", work / "tmp", dest):
        folder.mkdir(exist_ok=True)
    if os.geteuid() != 0:
        return {}
    uid, gid = PIP_UID, PIP_GID
    os.chmod(work, 0o755)
    for path in (work / "home", work / "tmp", dest):
        os.chown(path, uid, gid)
    for path in (work / REQUIREMENTS,):
        os.chmod(path, 0o644)
    return {"user": uid, "group": gid, "extra_groups": [], "umask": 0o022}


def install(dc: Any, base: str, wheels: Path, tag: str, limits: DepsLimits | None = None) -> None:
    """Unpack the wheels into /opt/deps in a capped container without network; commit it as `tag`."""
    limits = limits or DepsLimits()
    try:
        container = dc.containers.create(
            base,
            ["python3", "-c", _INSTALL],
            network_mode="none",
            cap_drop=["ALL"],
            security_opt=["no-new-privileges:true", seccomp.security_opt()],  # the runs' own profile
            mem_limit=f"{INSTALL_MEMORY_MB}m",
            memswap_limit=f"{INSTALL_MEMORY_MB}m",
            nano_cpus=int(limits.cpus * 1_000_000_000),
            pids_limit=64,
            volumes={str(wheels): {"bind": "/wheels", "mode": "ro"}},
            labels={"ichain": "deps"},
        )
    except DockerException as exc:
        raise DepsError(f"cannot create the install container: {str(exc).splitlines()[0][:200]}") from None
    try:
        container.start()
        try:
            status = container.wait(timeout=limits.time_s)
        except Exception:
            container.kill()
            raise DepsError(f"installing the requirements took longer than {limits.time_s:.0f} s") from None
        if int(status.get("StatusCode", 1)) != 0:
            log = container.logs(tail=3).decode(errors="replace").strip().replace("\n", " | ")
            raise DepsError(f"installing the requirements failed: {log[:400]}")
        repo, version = tag.split(":", 1)
        container.commit(repository=repo, tag=version, changes=[f"ENV PYTHONPATH={DEPS_DIR}"])
    finally:
        try:
            container.remove(force=True)
        except DockerException:
            pass
