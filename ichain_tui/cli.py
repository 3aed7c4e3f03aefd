"""Provides `ichain`: the TUI with no arguments, subcommands for scripting and headless use.

Data goes to stdout (`--json` for machines), diagnostics to stderr; expected failures print one
line and exit with a documented code (EXIT_CODES, shown by `ichain --help`). Every command logs to
a rotating file under the logs folder (`-v` adds debug lines).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .cli_values import OneLineParser, address, network
from .errors import IchainError

EXIT_CODES = (
    (0, "done (for `task submit`/`resume`: the result was fetched, verified and decrypted)"),
    (1, "the command failed: the chain, a peer, the sandbox or the task said no (one line on stderr)"),
    (2, "bad input: an unknown flag, a bad value, a bad setting or config file, a missing folder"),
    (130, "interrupted (Ctrl-C)"),
)

# Every command's --help ends with an example (tests/test_cli_help.py checks that each has one).
EXAMPLES: dict[str, str] = {
    "wallet new": "ichain wallet new            # asks for a password; ICHAIN_PASSWORD for scripts",
    "wallet import": "ichain wallet import --keystore ~/keys/UTC--2026-...json\n"
    "  printf '%s' \"$KEY\" | ichain wallet import --private-key-stdin",
    "wallet show": "ichain wallet show --public-key --json",
    "wallet list": "ichain wallet list --json",
    "wallet balance": "ichain wallet balance --network http://127.0.0.1:8545",
    "chain deploy": "ichain chain deploy --network local --json",
    "chain info": "ichain chain info --network embedded --json",
    "chain fund": "ichain chain fund 0x1234...abcd 10 --network local   # a devnet's ETH, not a faucet's",
    "devnet": "ichain devnet --port 8545 --block-time 2 --json",
    "config show": "ichain config show --json",
    "config set": "ichain config set transport tor\n  ichain config set max_gpus ''      # back to the default",
    "image build": "ichain image build --force",
    "doctor": "ichain doctor --json",
    "task try": "ichain task try examples/tasks/digits --json",
    "task submit": "ichain task submit ./my-task --payment 0.02 --validator random --out ./result",
    "task resume": "ichain task resume 7 --out ./result",
    "task follow": "ichain task follow 7 --json",
    "task status": "ichain task status 7 --json",
    "task list": "ichain task list --json",
    "task refund": "ichain task refund 7",
    "task settle": "ichain task settle 7",
    "task rate": "ichain task rate 7 --rating 5",
    "task withdraw": "ichain task withdraw --earnings --json",
    "sweep run": "ichain sweep run ./my-task --grid lr=0.1,0.01,0.001 --grid seed=1,2,3,4 --budget 0.5 --yes",
    "sweep status": "ichain sweep status 3f9c21ab --json",
    "sweep resume": "ichain sweep resume 3f9c21ab",
    "sweep list": "ichain sweep list --json",
    "provide": "ICHAIN_PASSWORD=... ichain provide --headless --rate 0.01 --transport tor --json",
    "demo": "ichain demo --headless",
    "submit": "ichain submit ./my-task     # the TUI on that folder; also: ichain ./my-task",
    "completion": "ichain completion bash > ~/.local/share/bash-completion/completions/ichain",
}


def build_parser() -> argparse.ArgumentParser:
    from .commands import (
        chain,
        completion,
        config_cmd,
        demo,
        doctor_cmd,
        provide,
        sandbox_cmd,
        sweep_cmd,
        task_cmd,
        wallet,
    )

    codes = "\n".join(f"  {code:<4} {text}" for code, text in EXIT_CODES)
    parser: argparse.ArgumentParser = OneLineParser(
        prog="ichain",
        description="Peer-to-peer ML compute market on Ethereum. With no command: the TUI.",
        epilog=f"exit codes:\n{codes}\n\nexample:\n  ichain demo --headless",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    for flag, text, kind in GLOBAL_FLAGS:
        parser.add_argument(flag, help=text, type=kind)
    sub = parser.add_subparsers(dest="command")
    wallet.add_parser(sub)
    chain.add_parser(sub)
    config_cmd.add_parser(sub)
    sandbox_cmd.add_parser(sub)
    task_cmd.add_parser(sub)
    sweep_cmd.add_parser(sub)
    provide.add_parser(sub)
    demo.add_parser(sub)
    doctor_cmd.add_parser(sub)
    completion.add_parser(sub)
    sub.choices["completion"].set_defaults(root_parser=parser)  # the tree it completes
    submit = sub.add_parser("submit", help="open the TUI's Submit tab on a task folder (also: ichain PATH)")
    submit.add_argument("folder")
    _global_flags_everywhere(parser)
    _examples(parser)
    return parser


def _version() -> str:
    from .chain.artifacts import fingerprint

    return f"ichain {__version__}, {fingerprint()}"


GLOBAL_FLAGS = (
    ("--network", "embedded, local or an http(s) JSON-RPC URL", network),
    ("--account", "address of the keystore to use", address),
    ("--market", "Marketplace contract address", address),
)


def _global_flags_everywhere(parser: argparse.ArgumentParser) -> None:
    """`ichain config show --network embedded` works as `ichain --network embedded config show`
    does: every subcommand also takes the global flags (given after it, they win); every command
    takes `--json` (machine-readable output) and `-v` (debug lines in its log)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                taken = {opt for a in child._actions for opt in a.option_strings}
                for flag, text, kind in GLOBAL_FLAGS:
                    if flag not in taken:
                        child.add_argument(flag, default=argparse.SUPPRESS, help=text, type=kind)
                if _is_leaf(child):
                    if "--json" not in taken:
                        child.add_argument("--json", action="store_true", help="print JSON")
                    if "--verbose" not in taken and "-v" not in taken:
                        child.add_argument(
                            "-v", "--verbose", action="store_true", help="debug lines in the log"
                        )
                _global_flags_everywhere(child)


def _is_leaf(parser: argparse.ArgumentParser) -> bool:
    return not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)


def _examples(parser: argparse.ArgumentParser, path: str = "") -> None:
    """Attach each command's example (EXAMPLES) to the end of its --help."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                here = f"{path} {name}".strip()
                if here in EXAMPLES:
                    child.epilog = f"example:\n  {EXAMPLES[here]}"
                    child.formatter_class = argparse.RawDescriptionHelpFormatter
                _examples(child, here)


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
    from . import logs

    try:
        logs.setup(args.command, verbose=getattr(args, "verbose", False))
    except OSError as exc:  # an unwritable logs folder must not stop the command
        print(f"ichain: no log file ({exc.strerror})", file=sys.stderr)
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
