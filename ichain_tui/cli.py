"""Provides `ichain`: the TUI with no arguments, subcommands for scripting and headless use.

Data goes to stdout, diagnostics to stderr; expected failures print one line and exit non-zero.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .errors import IchainError


def build_parser() -> argparse.ArgumentParser:
    from .commands import chain, config_cmd, demo, provide, sandbox_cmd, task_cmd, wallet

    parser = argparse.ArgumentParser(prog="ichain", description="Peer-to-peer ML compute market on Ethereum.")
    parser.add_argument("--version", action="version", version=f"ichain {__version__}")
    for flag, text in GLOBAL_FLAGS:
        parser.add_argument(flag, help=text)
    sub = parser.add_subparsers(dest="command")
    wallet.add_parser(sub)
    chain.add_parser(sub)
    config_cmd.add_parser(sub)
    sandbox_cmd.add_parser(sub)
    task_cmd.add_parser(sub)
    provide.add_parser(sub)
    demo.add_parser(sub)
    submit = sub.add_parser("submit", help="open the TUI's Submit tab on a task folder (also: ichain PATH)")
    submit.add_argument("folder")
    _global_flags_everywhere(parser)
    return parser


GLOBAL_FLAGS = (
    ("--network", "embedded, local or an http(s) JSON-RPC URL"),
    ("--account", "address of the keystore to use"),
    ("--market", "Marketplace contract address"),
)


def _global_flags_everywhere(parser: argparse.ArgumentParser) -> None:
    """`ichain config show --network embedded` works as `ichain --network embedded config show`
    does: every subcommand also takes the global flags (given after it, they win)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                taken = {opt for a in child._actions for opt in a.option_strings}
                for flag, text in GLOBAL_FLAGS:
                    if flag not in taken:
                        child.add_argument(flag, default=argparse.SUPPRESS, help=text)
                _global_flags_everywhere(child)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    folder = _folder_argument(argv, parser)
    args = parser.parse_args(argv)
    if args.command is None or args.command == "submit":
        if folder is not None or args.command == "submit":
            args.folder = folder if folder is not None else args.folder
            if not Path(args.folder).expanduser().is_dir():
                print(f"ichain: {args.folder} is not a folder", file=sys.stderr)
                return 2
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


def _folder_argument(argv: list[str], parser: argparse.ArgumentParser) -> str | None:
    """`ichain PATH` (after any global flags): open the TUI's Submit tab on that folder. The path
    is taken out of `argv`; a word that names a command stays a command."""
    choices = parser._subparsers._group_actions[0].choices if parser._subparsers else None
    commands = set(choices or ())
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 2 if argv[i] in ("--network", "--account", "--market") else 1
    if i < len(argv) and argv[i] not in commands and (Path(argv[i]).expanduser().is_dir() or "/" in argv[i]):
        return argv.pop(i)
    return None


def _run_tui(args: argparse.Namespace) -> int:
    try:
        from .tui.app import run
    except ImportError:
        print("ichain: the TUI is not installed in this build; see `ichain --help`", file=sys.stderr)
        return 2
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
