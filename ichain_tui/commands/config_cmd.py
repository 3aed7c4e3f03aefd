"""Provides `ichain config show` (the effective settings and every path) and `ichain config set`
(write one setting into the config file, validated; an empty value restores the default)."""

from __future__ import annotations

import argparse
import json
from decimal import Decimal

from .. import locations
from .common import settings_from


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = sub.add_parser("config", help="effective settings and paths")
    csub = config.add_subparsers(dest="config_cmd", required=True)
    show = csub.add_parser("show", help="print settings (file < ICHAIN_* env < flags) and paths")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_show)
    setter = csub.add_parser(
        "set", help="write a setting into the config file (empty value: back to the default)"
    )
    setter.add_argument("key")
    setter.add_argument("value")
    setter.set_defaults(func=cmd_set)


def cmd_set(args: argparse.Namespace) -> int:
    from ..config import save

    saved = save({args.key: args.value})
    key = args.key.replace("-", "_")
    if args.json:
        print(_json({"key": key, "value": saved.get(key), "default": key not in saved}))
    else:
        print(f"{key} = {_json(saved[key])}" if key in saved else f"{key}: default restored")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    paths = {k: str(v) for k, v in locations.all_paths().items()}
    if args.json:
        print(_json({"settings": settings.as_dict(), "paths": paths}))
        return 0
    print("[settings]")
    for key, value in settings.as_dict().items():
        print(f"{key} = {_json(value)}")
    print("\n[paths]")
    for key, value in paths.items():
        print(f"{key} = {_json(value)}")
    return 0


def _json(value: object) -> str:
    """A setting as TOML/JSON text; amounts (Decimal) exactly, as strings."""
    return json.dumps(value, default=lambda v: f"{v:f}" if isinstance(v, Decimal) else str(v))
