"""Provides `examine()`: what `ichain doctor` reports, one `Part` per real system part the app
uses (Docker engine, runtime image, gVisor, the embedded chain, anvil, tor, solc, the package
index for per-task dependencies, free disk), each found or not, with the exact command that
fixes it (`fixes`) and whether that command needs root. Which parts are required follows the
settings: gVisor when the provider runs tasks under runsc, tor when the transport is tor, the
index when one is set, and one chain of anvil or the embedded one for the demo."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import fixes, locations
from .bundled import CHECKOUT, from_checkout
from .config import Settings
from .errors import IchainError, one_line

MIN_FREE_MB = 4096  # the runtime image, one task's files and a per-task dependency image or two


@dataclass(frozen=True)
class Part:
    name: str
    status: str  # "ok", "missing" or "off" (not configured, and not needed as configured)
    detail: str
    fix: str = ""
    needs_root: bool = False
    required: bool = True

    @property
    def ok(self) -> bool:
        return self.status != "missing" or not self.required

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _found(name: str, detail: str, required: bool = True) -> Part:
    return Part(name, "ok", detail, required=required)


def _missing(name: str, detail: str, fix: str, required: bool = True) -> Part:
    return Part(name, "missing", detail, fix, needs_root=fix.startswith("as root"), required=required)


def examine(settings: Settings) -> list[Part]:
    docker_part, dc = _docker()
    parts = [docker_part, _image(dc, settings), _gvisor(dc, settings)]
    anvil = _anvil()
    parts += [_embedded(required=anvil.status != "ok"), anvil, _tor(settings), _solc()]
    parts += [_package_index(settings), _disk(dc)]
    return parts


def _docker() -> tuple[Part, Any]:
    from .sandbox import engine

    try:
        dc = engine.client(timeout=5.0)
        version = dc.version().get("Version", "?")
    except IchainError as exc:
        text = one_line(exc)
        fix = fixes.docker_permission() if "permission denied" in text else fixes.docker()
        return _missing("docker engine", text.split(": ", 1)[-1].split(":")[0], fix), None
    return _found("docker engine", f"Docker {version} answers"), dc


def _image(dc: Any, settings: Settings) -> Part:
    from .sandbox import image

    name = settings.docker_image
    if dc is None:
        return _missing("runtime image", f"{name}: unknown until Docker answers", fixes.runtime_image())
    if image.has_image(dc, name):
        size = dc.images.get(name).attrs.get("Size", 0)
        return _found("runtime image", f"{name} ({size / 2**20:,.0f} MiB)")
    return _missing("runtime image", f"{name} is not in the engine", fixes.runtime_image())


def _gvisor(dc: Any, settings: Settings) -> Part:
    from .sandbox import engine

    required = settings.container_runtime == "runsc"
    if dc is not None and "runsc" in engine.runtimes(dc):
        return _found("gvisor (runsc)", "registered with the Docker engine", required)
    where = shutil.which("runsc")
    detail = f"{where} is not registered with the engine" if where else "runsc is not installed"
    if not required:
        detail += " (tasks run under runc, as configured)"
    return _missing("gvisor (runsc)", detail, fixes.gvisor(), required)


def _embedded(required: bool) -> Part:
    why = " (the demo's chain, as no anvil is installed)" if required else ""
    try:
        version = importlib.metadata.version("eth-tester")
        importlib.metadata.version("py-evm")  # its backend
    except importlib.metadata.PackageNotFoundError:
        return _missing(
            "embedded chain",
            f"eth-tester with py-evm is not installed{why}",
            fixes.embedded_chain(),
            required,
        )
    return _found("embedded chain", f"eth-tester {version}{why}", required)


def _anvil() -> Part:
    from .chain.devnet import anvil_binary
    from .chain.errors import ChainError

    try:
        path = anvil_binary()
    except ChainError:
        return _missing(
            "anvil", "not found (the demo uses the embedded chain)", fixes.anvil(), required=False
        )
    return _found("anvil", f"{path} ({_first_line([path, '--version'])})", required=False)


def _tor(settings: Settings) -> Part:
    required = settings.transport == "tor"
    use = "transfers go through tor" if required else "for --transport tor"
    tor, gencert = shutil.which("tor"), shutil.which("tor-gencert")
    if tor and gencert:
        return _found("tor", f"{tor} ({_first_line([tor, '--version'])}); {use}", required)
    return _missing("tor", f"tor is not installed; {use}", fixes.tor(), required)


def _solc() -> Part:
    from .chain.artifacts import compiler

    shipped = f"the contracts ship compiled (solc {compiler()})"
    solcjs = CHECKOUT / "contracts" / "node_modules" / ".bin" / "solcjs"
    if from_checkout():
        if solcjs.is_file():
            return _found("solc", f"{solcjs} for recompiling; {shipped}", required=False)
        return _missing("solc", f"not installed for recompiling; {shipped}", fixes.solc(), required=False)
    return Part("solc", "off", f"{shipped}; not needed to deploy", fixes.solc(), required=False)


def _package_index(settings: Settings) -> Part:
    index = settings.package_index
    if not index:
        return Part(
            "package index",
            "off",
            "not set: tasks with requirements.txt are declined",
            fixes.package_index(),
            required=False,
        )
    try:
        with urllib.request.urlopen(index.rstrip("/") + "/", timeout=5) as response:
            return _found("package index", f"{index} answers {response.status}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return _missing(
            "package index", f"{index} does not answer: {one_line(exc)[:80]}", fixes.package_index()
        )


def _disk(dc: Any) -> Part:
    places = {"data": locations.data_dir()}
    if dc is not None:
        from .sandbox.engine import root_dir

        places["docker"] = root_dir(dc)
    free = {}
    for label, path in places.items():
        existing = next((p for p in [path, *path.parents] if p.exists()), Path("/"))
        free[label] = shutil.disk_usage(existing).free // 2**20
    detail = ", ".join(f"{label} {mb:,} MiB free" for label, mb in free.items())
    if min(free.values()) >= MIN_FREE_MB:
        return _found("free disk", detail)
    return _missing("free disk", f"{detail} (under {MIN_FREE_MB:,} MiB)", "free space or move ICHAIN_HOME")


def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "version unknown"
    return (out.strip().splitlines() or ["version unknown"])[0][:60]
