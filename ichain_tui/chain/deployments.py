"""Provides the record of Marketplace addresses per chain id (data dir deployments.json)."""

from __future__ import annotations

import json

from .. import locations


def recorded(chain_id: int) -> str | None:
    path = locations.deployments_file()
    if not path.exists():
        return None
    try:
        address = json.loads(path.read_text()).get(str(chain_id))
        return address if isinstance(address, str) else None
    except (OSError, ValueError):
        return None


def record(chain_id: int, address: str) -> None:
    path = locations.deployments_file()
    locations.ensure_private_dir(path.parent)
    data = {}
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except ValueError:
            data = {}
    data[str(chain_id)] = address
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)
