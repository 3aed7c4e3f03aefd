"""A refused market action reaches the CLI user as one named line, and costs nothing (issue 9's
"Bad input"): the revert is caught when the call is estimated, before anything is signed."""

from __future__ import annotations

import pytest
from cli_helpers import assert_clean_failure, ichain
from conftest import account
from market_flow import create

from ichain_tui import locations
from ichain_tui.chain.wallet import Wallet

PASSWORD = "cli-refusal-password"


@pytest.fixture
def cli(anvil_parties):
    p = anvil_parties
    snap = p.chain.snapshot()
    Wallet(locations.keystore_dir()).import_private_key(
        "0x" + bytes(account("requester").key).hex(), PASSWORD
    )
    url = p.chain.url

    def run(*args: str):
        return ichain(
            "--network", url, "--market", p.requester.address, *args, env={"ICHAIN_PASSWORD": PASSWORD}
        )

    yield p, run
    p.chain.revert(snap)


@pytest.mark.parametrize(
    "args, text",
    [
        (("task", "rate", "999", "--rating", "5"), "task 999 does not exist"),
        (("task", "settle", "{task}"), "is Assigned and cannot do that now"),
        (("task", "refund", "{task}"), "still within its deadline"),
        (("task", "rate", "{task}", "--rating", "9"), "--rating: '9' is not a rating from 1 to 5"),
        (
            (
                "task",
                "withdraw",
            ),
            "nothing to withdraw",
        ),
    ],
)
def test_refused_actions_are_one_named_line_and_spend_nothing(cli, args, text):
    p, run = cli
    task_id = create(p)
    nonce = p.chain.w3.eth.get_transaction_count(p.requester.account.address)
    result = run(*(a.format(task=task_id) for a in args))
    assert_clean_failure(result)
    assert text in result.stderr, result.stderr
    assert p.chain.w3.eth.get_transaction_count(p.requester.account.address) == nonce


def test_a_provider_takes_its_earnings_out_of_its_stake_and_stays_available(anvil_parties):
    from market_flow import to_passed

    p = anvil_parties
    snap = p.chain.snapshot()
    try:
        to_passed(p)  # the provider's payment is added to its stake
        Wallet(locations.keystore_dir()).import_private_key(
            "0x" + bytes(account("provider").key).hex(), PASSWORD
        )
        before = p.requester.provider(p.provider.account.address)
        env = {"ICHAIN_PASSWORD": PASSWORD}
        base = ("--network", p.chain.url, "--market", p.requester.address, "task", "withdraw")
        plain = ichain(*base, env=env)
        assert_clean_failure(plain)
        assert "--earnings" in plain.stderr
        result = ichain(*base, "--earnings", "--json", env=env)
        assert result.returncode == 0, result.stderr
        after = p.requester.provider(p.provider.account.address)
        assert after.stake == p.requester.min_stake and after.available
        assert before.stake - after.stake == before.free_stake - p.requester.min_stake
    finally:
        p.chain.revert(snap)


@pytest.mark.parametrize(
    "args, text",
    [
        (("task", "submit", "{folder}", "--payment", "-1"), "--payment: the amount cannot be negative"),
        (
            ("task", "submit", "{folder}", "--payment", "1e400"),
            "--payment: the amount is larger than any market can hold",
        ),
        (
            ("task", "submit", "{folder}", "--payment", "0.01", "--fee", "lots"),
            "--fee: the amount must be an amount in ETH",
        ),
        (
            ("task", "withdraw", "--stake", "0.0000000000000000001"),
            "--stake: the amount has more than 18 decimals",
        ),
    ],
)
def test_bad_amounts_are_one_named_line(cli, tmp_path, args, text):
    _p, run = cli
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "task.py").write_text("print(1)\n")
    result = run(*(a.replace("{folder}", str(tmp_path / "t")) for a in args))
    assert_clean_failure(result)
    assert text in result.stderr
