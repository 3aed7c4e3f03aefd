"""Provides `Host`: the chunk server an agent publishes sealed files on, reachable directly or
through an onion service, and the `FileRef` that tells a peer where to fetch each file."""

from __future__ import annotations

from pathlib import Path

from ..transfer.locator import FileRef
from ..transfer.manifest import SealedFile
from ..transfer.server import ChunkServer, load_sealed


class Host:
    def __init__(self, transport: str = "direct", bind_host: str = "127.0.0.1", advertise_host: str | None = None,
                 port: int = 0, tor=None) -> None:
        """`tor` is a `transfer.tor.Tor` controller when transport is `tor`."""
        self.transport = transport
        self.server = ChunkServer(bind_host, port, advertise_host).start()
        self.address = self.server.address
        if transport == "tor":
            if tor is None:
                raise ValueError("tor transport needs a tor controller")
            self.address = tor.create_onion(self.server.port)

    def publish(self, sealed: SealedFile) -> FileRef:
        self.server.add(sealed)
        return FileRef(sealed.root, sealed.key, self.transport, self.address)

    def republish(self, directory: Path, key: bytes) -> FileRef:
        return self.publish(load_sealed(directory, key))

    def unpublish(self, root: str) -> None:
        self.server.remove(root)

    def stop(self) -> None:
        self.server.stop()
