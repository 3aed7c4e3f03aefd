"""Provides `ChunkProgress`: how far one chunk of a transfer is, in either direction (a fetch
here, or this machine's chunk server sending it to a peer), and the callback type that takes it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ChunkProgress:
    root: str
    index: int
    done: int
    size: int
    state: str  # down: waiting | downloading | verified | retrying | failed; up: sending | sent
    attempt: int = 1
    direction: str = "down"  # "up": a chunk this machine's server sends to a peer


ProgressCallback = Callable[[ChunkProgress], None]
