"""Provides the runtime image: used when present, pulled when a reference is configured, otherwise
built offline from Debian packages (debootstrap minbase + python3, numpy, scipy, scikit-learn,
then `docker import`), reporting progress line by line.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import docker
from docker.errors import DockerException, ImageNotFound

from .. import fixes
from .engine import SandboxError
from .taskspec import DEFAULT_IMAGE, is_pinned

SUITE = "bookworm"
PACKAGES = ["python3", "python3-numpy", "python3-scipy", "python3-sklearn", "ca-certificates"]
PULL_ENV = "ICHAIN_RUNTIME_PULL"  # e.g. registry.example.org/ichain-runtime:bookworm
MIRROR_ENV = "ICHAIN_DEBIAN_MIRROR"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEBOOTSTRAP_SBIN = Path("/usr/sbin/debootstrap")  # where Debian puts it (off a user's PATH)
# Trimmed from the root filesystem before import: caches and docs nobody runs.
_TRIM = [
    "var/cache/apt/archives",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
]

Progress = Callable[[str], None]


def has_image(dc: docker.DockerClient, name: str = DEFAULT_IMAGE) -> bool:
    try:
        dc.images.get(name)
        return True
    except ImageNotFound:
        return False


def ensure_image(
    dc: docker.DockerClient, name: str = DEFAULT_IMAGE, progress: Progress | None = None, build: bool = True
) -> str:
    """Return `name` once the engine has it: present, pulled (when configured) or built offline."""
    say = progress or (lambda line: None)
    if has_image(dc, name):
        say(f"image {name} present")
        return name
    ref = os.environ.get(PULL_ENV)
    if ref:
        say(f"pulling {ref}")
        try:
            image = dc.images.pull(ref)
            image.tag(*name.split(":", 1))
            return name
        except DockerException as exc:
            say(f"pull failed ({str(exc).splitlines()[0][:120]}); building offline")
    if not build:
        raise SandboxError(f"image {name} is missing: {fixes.runtime_image()}")
    build_image(dc, name, progress=say)
    return name


def ensure_pinned(dc: docker.DockerClient, ref: str) -> str:
    """Have the image `ref` (`repository@sha256:…`): present already, or pulled by its digest
    from its registry. The engine checks what it pulls against the digest; a tag is never
    pulled. One clear line when the registry cannot be reached or does not have it."""
    if not is_pinned(ref):
        raise SandboxError(f"image {ref[:80]!r} is not pinned by digest: it is not pulled")
    try:
        dc.images.get(ref)
        return ref
    except ImageNotFound:
        pass
    except DockerException as exc:
        raise SandboxError(f"cannot look up image {ref[:80]}: {str(exc).splitlines()[0][:160]}") from None
    try:
        image = dc.images.pull(ref)
    except DockerException as exc:
        raise SandboxError(f"cannot pull image {ref[:100]}: {str(exc).splitlines()[0][:200]}") from None
    if ref not in (image.attrs.get("RepoDigests") or []):
        raise SandboxError(f"the registry answered {ref[:80]} with another image")
    return ref


def debian_mirror() -> str:
    """The mirror apt already uses on this host (so the build needs no other network)."""
    if os.environ.get(MIRROR_ENV):
        return os.environ[MIRROR_ENV]
    for source in [Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")]:
        try:
            text = source.read_text()
        except OSError:
            continue
        match = re.search(r"^URIs:\s*(\S+/debian)\s*$", text, re.M) or re.search(
            r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+/debian)\s+\S+", text, re.M
        )
        if match:
            return match.group(1)
    return DEFAULT_MIRROR


def build_image(dc: docker.DockerClient, name: str = DEFAULT_IMAGE, progress: Progress | None = None) -> None:
    say = progress or (lambda line: None)
    debootstrap = shutil.which("debootstrap") or (
        str(DEBOOTSTRAP_SBIN) if DEBOOTSTRAP_SBIN.exists() else None
    )
    if debootstrap is None:
        raise SandboxError(f"image build needs debootstrap: {fixes.debootstrap()}")
    if os.geteuid() != 0:
        raise SandboxError(
            "building the runtime image needs root (debootstrap); run `sudo ichain image build`"
        )
    with tempfile.TemporaryDirectory(prefix="ichain-rootfs-") as tmp:
        root = Path(tmp) / "rootfs"
        cmd = [
            debootstrap,
            "--variant=minbase",
            f"--include={','.join(PACKAGES)}",
            SUITE,
            str(root),
            debian_mirror(),
        ]
        say(f"debootstrap {SUITE} with {', '.join(PACKAGES)} from {cmd[-1]}")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        tail: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            tail = ([*tail, line])[-20:]
            if line.startswith(
                (
                    "I: Retrieving",
                    "I: Validating",
                    "I: Extracting",
                    "I: Installing",
                    "I: Configuring",
                    "I: Base system",
                    "E:",
                    "W:",
                )
            ):
                say(line)
        if proc.wait() != 0:
            raise SandboxError("debootstrap failed: " + (tail[-1] if tail else "no output"))
        for rel in _TRIM:
            shutil.rmtree(root / rel, ignore_errors=True)
        say(f"importing into the Docker engine as {name}")
        repo, _, tag = name.partition(":")
        tar = subprocess.Popen(["tar", "--numeric-owner", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        try:
            dc.api.import_image(
                src=tar.stdout,
                repository=repo,
                tag=tag or "latest",
                stream_src=True,
                changes=[
                    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "ENV PYTHONDONTWRITEBYTECODE=1",
                    "ENV LANG=C.UTF-8",
                    'CMD ["python3"]',
                ],
            )
        except DockerException as exc:
            raise SandboxError(f"docker import failed: {str(exc).splitlines()[0][:200]}") from None
        finally:
            if tar.stdout:
                tar.stdout.close()
            tar.wait()
        if not has_image(dc, name):
            raise SandboxError(f"docker import did not produce {name}")
        say(f"image {name} ready")
