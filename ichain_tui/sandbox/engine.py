"""Provides the connection to the Docker engine, its errors, and the reaper of stale sandbox containers."""

from __future__ import annotations

from pathlib import Path

import docker
from docker.errors import DockerException

from .. import fixes
from ..errors import IchainError
from ..process import pid_alive

LABEL = "org.ichain.sandbox"


class SandboxError(IchainError):
    title = "Sandbox error"


class DockerUnavailable(SandboxError):
    title = "Docker unavailable"


def client(timeout: float = 60.0) -> docker.DockerClient:
    """A client for the local engine (DOCKER_HOST honoured); one clear error when none answers."""
    try:
        dc = docker.from_env(timeout=timeout)
        dc.ping()
    except DockerException as exc:
        text = str(exc)
        if "FileNotFoundError" in text or "No such file" in text or "Connection refused" in text:
            reason = f"no Docker engine is running: {fixes.docker()}"
        elif "Permission denied" in text:
            reason = f"permission denied on the Docker socket: {fixes.docker_permission()}"
        else:
            reason = text.splitlines()[0][:200]
        raise DockerUnavailable(f"cannot reach the Docker engine: {reason}") from None
    return dc


def root_dir(dc: docker.DockerClient) -> Path:
    """Where the engine keeps images and containers (its default when it does not say)."""
    try:
        return Path(dc.info().get("DockerRootDir") or "/var/lib/docker")
    except DockerException:
        return Path("/var/lib/docker")


def runtimes(dc: docker.DockerClient) -> set[str]:
    """Names of the container runtimes the engine knows (runc, and runsc when registered)."""
    try:
        return set((dc.info().get("Runtimes") or {}).keys()) or {"runc"}
    except DockerException:
        return {"runc"}


def reap_stale(dc: docker.DockerClient) -> int:
    """Remove sandbox containers whose starting process is gone (crashed, killed); returns how many.

    Every sandbox container carries the label `org.ichain.sandbox.pid` with the pid that started it.
    """
    removed = 0
    # sparse: the labels come with the list itself; inspecting each container would fail for
    # one another process removes meanwhile
    for container in dc.containers.list(all=True, sparse=True, filters={"label": LABEL}):
        owner = (container.attrs.get("Labels") or {}).get(f"{LABEL}.pid", "")
        if owner.isdigit() and pid_alive(int(owner)):
            continue
        try:
            container.remove(force=True)
            removed += 1
        except DockerException:
            pass
    return removed
