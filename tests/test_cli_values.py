"""Issue 23, item 6: every value of every flag of every command is checked when the command line
is read. The test walks the whole parser tree and gives each typed flag and argument bad values:
each is one line on stderr and exit 2, never a traceback, before anything is read or sent."""

from __future__ import annotations

import argparse

import pytest

from ichain_tui import cli, cli_values

BAD = [
    "",
    "0xZZ",
    "-1",
    "nan",
    "inf",
    "1e999",
    "0x" + "g" * 40,
    "x" * 300,
    "99999999999999999999999999999999",
]
GOOD = {
    cli_values.address: "0x" + "ab" * 20,
    cli_values.network: "embedded",
    cli_values.eth_amount: "0.01",
    cli_values.TASK_ID: "1",
    cli_values.RATING: "5",
    cli_values.PORT: "8545",
}


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for action in subs:
        for name, child in action.choices.items():
            yield from _leaves(child, (*path, name))


def _cases():
    parser = cli.build_parser()
    for path, leaf in _leaves(parser):
        positionals = [a for a in leaf._actions if not a.option_strings and a.dest != "help"]
        for action in leaf._actions:
            kind = action.type
            if kind is None or kind in (str,) or getattr(kind, "__name__", "") == "Path":
                continue
            if action.option_strings:
                flag = max(action.option_strings, key=len)
                yield pytest.param(path, [], flag, id=f"{' '.join(path)} {flag}")
            else:
                before = []
                for earlier in positionals:
                    if earlier is action:
                        break
                    before.append(GOOD.get(earlier.type, "examples/tasks/digits"))
                yield pytest.param(path, before, None, id=f"{' '.join(path)} <{action.dest}>")


CASES = list(_cases())


def test_the_walk_finds_the_flags_that_carry_addresses_amounts_and_ids():
    ids = {case.id for case in CASES}
    for expected in (
        "task submit --provider",
        "task submit --validator",
        "task submit --payment",
        "task submit --market",
        "task status <task_id>",
        "task rate --rating",
        "provide --grace",
        "chain fund <address>",
        "demo --providers",
    ):
        assert expected in ids, expected
    assert len(CASES) > 60


@pytest.mark.parametrize(("path", "before", "flag"), CASES)
def test_every_typed_value_refuses_bad_input_in_one_line(path, before, flag, capsys):
    refused = 0
    for bad in BAD:
        argv = [*path, *before, *([flag, bad] if flag else [bad])]
        try:
            code = cli.main(argv)
        except SystemExit as exc:
            code = exc.code
        err = capsys.readouterr().err
        if code == 0:
            continue  # some bad-looking words are good values somewhere ("-1" is no flag value here)
        assert code == 2, (argv, code, err)
        assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("ichain: "), (argv, err)
        refused += 1
    assert refused >= len(BAD) - 2, f"{path} {flag}: only {refused} bad values refused"


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("0x" + "ab" * 20, True),
        ("0x" + "AB" * 20, True),
        ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", True),  # EIP-55's own example
        ("0x5aaeb6053F3E94C9b9A09f33669435E7Ef1BeAed", False),  # one letter's case off
        ("0x" + "ab" * 19, False),
        ("ab" * 20, False),
    ],
)
def test_addresses_are_20_bytes_lower_case_or_correctly_checksummed(text, ok):
    if ok:
        assert cli_values.address(text).lower() == text.lower()
    else:
        with pytest.raises(argparse.ArgumentTypeError):
            cli_values.address(text)
