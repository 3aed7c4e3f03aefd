"""The command line's contract beyond single commands: an example in every --help, --json on every
command, documented exit codes, shell completion generated from the parser, a log per command,
and `chain fund` for development chains only."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

import pytest
from cli_helpers import assert_clean_failure, ichain

from ichain_tui.cli import EXAMPLES, EXIT_CODES, build_parser


def _leaves(parser: argparse.ArgumentParser, path: str = ""):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for action in subs:
        for name, child in action.choices.items():
            yield from _leaves(child, f"{path} {name}".strip())


def test_every_command_has_an_example_json_and_verbose():
    leaves = dict(_leaves(build_parser()))
    assert {"task submit", "chain fund", "completion", "config set", "devnet"} <= set(leaves)
    for path, parser in leaves.items():
        text = parser.format_help()
        assert "example:\n  " in text and "ichain " in text.split("example:")[1], path
        flags = {opt for a in parser._actions for opt in a.option_strings}
        assert {"--json", "--verbose", "--network"} <= flags, path
    assert set(EXAMPLES) == set(leaves)


def test_exit_codes_are_documented_and_used():
    text = build_parser().format_help()
    for code, _ in EXIT_CODES:
        assert f"  {code} " in text
    assert ichain("task", "status", "notanumber").returncode == 2  # bad input
    bad_setting = ichain("config", "show", env={"ICHAIN_CHUNKS": "many"})
    assert_clean_failure(bad_setting)
    assert bad_setting.returncode == 2
    unreachable = ichain(
        "chain", "info", "--network", "http://127.0.0.1:9", env={"ICHAIN_RPC_PATIENCE_S": "1"}
    )
    assert_clean_failure(unreachable)
    assert unreachable.returncode == 1


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion_completes_commands_subcommands_and_options(tmp_path):
    script = ichain("completion", "bash")
    assert script.returncode == 0
    (tmp_path / "ichain.bash").write_text(script.stdout)

    def complete(*words: str) -> list[str]:
        line = " ".join(f"'{w}'" for w in words)
        probe = (
            f"source {tmp_path / 'ichain.bash'}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; "
            "_ichain; printf '%s\\n' \"${COMPREPLY[@]}\""
        )
        done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert complete("ichain", "ta") == ["task"]
    assert complete("ichain", "task", "su") == ["submit"]
    assert "--payment" in complete("ichain", "--network", "local", "task", "submit", "--pa")
    assert complete("ichain", "chain", "") == ["deploy", "info", "fund"]
    for shell in ("zsh", "fish"):
        other = ichain("completion", shell)
        assert other.returncode == 0 and "task" in other.stdout and "submit" in other.stdout


def test_json_output_parses_and_every_command_writes_its_log(tmp_path):
    env = {"ICHAIN_HOME": str(tmp_path)}
    out = ichain("config", "set", "chunks", "4", "--json", env=env)
    assert json.loads(out.stdout) == {"key": "chunks", "value": 4, "default": False}
    back = ichain("config", "set", "chunks", "", "--json", env=env)
    assert json.loads(back.stdout) == {"key": "chunks", "value": None, "default": True}
    info = ichain("chain", "info", "--network", "embedded", "--json", "-v", env=env)
    assert json.loads(info.stdout)["chain_id"] > 0
    logs = list(tmp_path.rglob("*.log"))
    assert {p.name for p in logs} >= {"config.log", "chain.log"}


def test_chain_fund_gives_devnet_eth_and_refuses_a_public_chain(tmp_path):
    from rpc_proxy import JsonRpcProxy

    from ichain_tui.chain.devnet import Devnet

    env = {"ICHAIN_HOME": str(tmp_path)}
    address = "0x" + "12" * 20
    with Devnet() as devnet:
        done = ichain("chain", "fund", address, "2.5", "--network", devnet.url, "--json", env=env)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["balance"] == "2.500000 ETH"
        proxy = JsonRpcProxy(devnet.url)
        proxy.client_version = "Geth/v1.14.0-stable/linux-amd64/go1.22"  # looks like a public node
        try:
            refused = ichain("chain", "fund", address, "1", "--network", proxy.url, env=env)
        finally:
            proxy.close()
        assert_clean_failure(refused)
        assert "faucet" in refused.stderr
    assert_clean_failure(ichain("chain", "fund", "0xnope", "1", "--network", "embedded", env=env))


def test_the_cli_module_runs_as_a_script_without_the_tui_imported():
    code = "import sys, ichain_tui.cli as c; c.build_parser(); print('textual' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert done.stdout.strip() == "False"
