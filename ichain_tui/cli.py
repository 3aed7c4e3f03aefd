"""Provides `ichain`: the TUI with no arguments, subcommands for scripting and headless use.

Data goes to stdout, diagnostics to stderr; expected failures print one line and exit non-zero.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from . import __version__
from .errors import IchainError


def build_parser() -> argparse.ArgumentParser:
    from .commands import chain, config_cmd, demo, provide, sandbox_cmd, task_cmd, wallet

    parser = argparse.ArgumentParser(prog="ichain", description="Peer-to-peer ML compute market on Ethereum.")
    parser.add_argument("--version", action="version", version=f"ichain {__version__}")
    parser.add_argument("--network", help="embedded, local or an http(s) JSON-RPC URL")
    parser.add_argument("--account", help="address of the keystore to use")
    parser.add_argument("--market", help="Marketplace contract address")
    sub = parser.add_subparsers(dest="command")
    wallet.add_parser(sub)
    chain.add_parser(sub)
    config_cmd.add_parser(sub)
    sandbox_cmd.add_parser(sub)
    task_cmd.add_parser(sub)
    provide.add_parser(sub)
    demo.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        return _run_tui(args)
    try:
        return int(args.func(args) or 0)
    except IchainError as exc:
        print(f"ichain: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("ichain: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


def _run_tui(args: argparse.Namespace) -> int:
    try:
        from .tui.app import run
    except ImportError:
        print("ichain: the TUI is not installed in this build; see `ichain --help`", file=sys.stderr)
        return 2
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
