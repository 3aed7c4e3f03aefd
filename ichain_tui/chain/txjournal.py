"""Provides `TxJournal`: every transaction recorded on disk *before* it is broadcast.

One record per intent (what the transaction is for, e.g. `createTask:<root>`): the nonce, every
signed version (a fee bump re-signs the same nonce) with its hash, and whether it ended. A send
whose answer was lost, or a process killed between broadcast and receipt, leaves a pending
record; the next send of the same intent reconciles with the chain first (a receipt for any
recorded hash is the outcome; a nonce used by something else voids the record) instead of
repeating the effect.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .. import locations
from ..durable import write_json

PENDING, DONE, VOID = "pending", "done", "void"


class TxJournal:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        locations.ensure_private_dir(self.dir)

    def _path(self, sender: str, intent: str) -> Path:
        digest = hashlib.sha256(f"{sender.lower()}|{intent}".encode()).hexdigest()[:32]
        return self.dir / f"tx-{digest}.json"

    def get(self, sender: str, intent: str) -> dict[str, Any]:
        try:
            record = json.loads(self._path(sender, intent).read_text())
        except (OSError, ValueError):
            return {}
        return record if isinstance(record, dict) and record.get("intent") == intent else {}

    def pending(self, sender: str, intent: str) -> dict[str, Any] | None:
        record = self.get(sender, intent)
        return record if record.get("state") == PENDING else None

    def signed(self, sender: str, intent: str, action: str, nonce: int, tx_hash: str, raw: bytes) -> None:
        """Called before a signed transaction goes out: it is on disk whatever happens next."""
        record = self.get(sender, intent)
        if record.get("state") != PENDING or record.get("nonce") != nonce:
            record = {"intent": intent, "action": action, "sender": sender, "nonce": nonce, "versions": []}
        record["state"] = PENDING
        if all(v["hash"] != tx_hash for v in record["versions"]):
            record["versions"].append({"hash": tx_hash, "raw": raw.hex()})
        write_json(self._path(sender, intent), record)

    def finish(self, sender: str, intent: str, state: str, tx_hash: str | None = None) -> None:
        record = self.get(sender, intent)
        if record:
            record.update(state=state, mined=tx_hash)
            write_json(self._path(sender, intent), record)

    def all_pending(self) -> list[dict[str, Any]]:
        found = []
        for path in self.dir.glob("tx-*.json"):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(record, dict) and record.get("state") == PENDING:
                found.append(record)
        return found
