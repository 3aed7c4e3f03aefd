"""Provides `ichain doctor`: one line per system part the app uses, each found or with the exact
command that fixes it (and whether that needs root); `--json` for scripts. Exit 1 when a part
the settings need is missing."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from .common import settings_from

if TYPE_CHECKING:
    from ..doctor import Part


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("doctor", help="check Docker, the runtime image, gVisor, chains, tor, disk")
    p.set_defaults(func=cmd_doctor)


def _label(part: Part) -> str:
    return "optional" if part.status == "missing" and not part.required else part.status


def cmd_doctor(args: argparse.Namespace) -> int:
    from ..doctor import examine

    parts = examine(settings_from(args))
    missing = [p for p in parts if not p.ok]
    if args.json:
        print(json.dumps({"ok": not missing, "parts": [p.as_dict() for p in parts]}, indent=2))
        return 1 if missing else 0
    width = max(len(p.name) for p in parts) + 2
    for p in parts:
        line = f"{_label(p):<9}{p.name:<{width}}{p.detail}"
        if p.status != "ok" and p.fix:
            line += f" → {p.fix}"
        print(line)
    print(f"{len(missing)} needed part(s) missing" if missing else "everything needed is here")
    return 1 if missing else 0
