"""Provides `Host`: the chunk server an agent publishes sealed files on, reachable directly or
through an onion service, and the `FileRef` that tells a peer where to fetch each file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..durable import write_json
from ..transfer.locator import FileRef
from ..transfer.logstream import LogInbox
from ..transfer.manifest import SealedFile
from ..transfer.server import ChunkServer, load_sealed
from ..transfer.transport import DirectTransport, Transport

RESTART_WARMUP_S = 30.0  # after a restart, peers asking for not-yet-republished files try again


class Host:
    def __init__(
        self,
        transport: Transport | None = None,
        bind_host: str = "127.0.0.1",
        advertise_host: str | None = None,
        port: int = 0,
        identity: Path | None = None,
    ) -> None:
        """A chunk server published over `transport` (default: direct). `identity` is a file
        that keeps the port and the onion key across restarts, so the addresses already sent to
        peers in envelopes on chain stay valid after a crash or a reboot."""
        self.transport: Transport = transport or DirectTransport()
        saved = _load(identity)
        warmup = RESTART_WARMUP_S if saved else 0.0  # the owner re-adds what it served just after
        try:
            self.server = ChunkServer(
                bind_host, port or int(saved.get("port", 0)), advertise_host, warmup_s=warmup
            ).start()
        except OSError:  # the old port is taken now: a new one (peers holding the old address retry)
            self.server = ChunkServer(bind_host, port, advertise_host, warmup_s=warmup).start()
        self.address, onion_key = self.transport.publish(
            self.server.address, self.server.port, saved.get("onion_key") or None
        )
        if identity is not None:
            write_json(identity, {"port": self.server.port, "onion_key": onion_key})
        self.logs = LogInbox()  # running tasks' log lines, pushed by their providers
        self.server.accept_logs(self.logs)

    def publish(self, sealed: SealedFile) -> FileRef:
        self.server.add(sealed)
        return FileRef(sealed.root, sealed.key, self.transport.name, self.address)

    def republish(self, directory: Path, key: bytes) -> FileRef:
        return self.publish(load_sealed(directory, key))

    def unpublish(self, root: str) -> None:
        self.server.remove(root)

    def stop(self) -> None:
        self.server.stop()


def _load(identity: Path | None) -> dict[str, Any]:
    if identity is None:
        return {}
    try:
        saved = json.loads(identity.read_text())
    except (OSError, ValueError):
        return {}
    return saved if isinstance(saved, dict) else {}
