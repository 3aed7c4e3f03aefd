"""Test helpers that drive the Marketplace (protocol v3) through its usual steps."""

from __future__ import annotations

import os

import pytest
from conftest import FEE, PRICE, Parties
from eth_utils import keccak

from ichain_tui.chain.client import MarketClient
from ichain_tui.chain.errors import ContractRevert
from ichain_tui.chain.types import ValidatorMode

TASK_ROOT = bytes.fromhex("11" * 32)
RESULT_ROOT = bytes.fromhex("22" * 32)
K2 = bytes.fromhex("33" * 32)


def key_commit(task_id: int, key: bytes = K2, root: bytes = RESULT_ROOT) -> bytes:
    return keccak(key + task_id.to_bytes(32, "big") + root)


def create(
    p: Parties,
    *,
    mode: ValidatorMode = ValidatorMode.RANDOM,
    validator: str | None = None,
    requester: str = "requester",
    provider: str = "provider",
    payment: int = PRICE,
    fee: int | None = None,
    execute_window: int = 600,
    review_window: int = 600,
) -> int:
    if fee is None:
        fee = 0 if mode is ValidatorMode.NONE else FEE
    if validator is not None:
        mode = ValidatorMode.NAMED
    client = p.as_(requester)
    tx = client.create_task(
        provider=p.as_(provider).account.address,
        mode=mode,
        validator=p.as_(validator).account.address if validator else None,
        payment=payment,
        validator_fee=fee,
        task_root=TASK_ROOT,
        requester_key=p.pub(client),
        execute_window=execute_window,
        review_window=review_window,
        provider_envelope=b"\x01" * 200,
    ).send()
    return client.task_id_of(tx)


def submit(
    p: Parties,
    task_id: int,
    key: bytes = K2,
    root: bytes = RESULT_ROOT,
    provider: str = "provider",
    resolve: bool = True,
) -> None:
    """Commit the result; with `resolve`, also make the draw it asks for (as the provider's agent
    does in its next transaction)."""
    p.as_(provider).submit_result(
        task_id, root, key_commit(task_id, key, root), b"\x03" * 120, b"\x04" * 240
    ).send()
    if resolve and p.requester.task(task_id).draw_pending:
        p.as_(provider).draw_validator(task_id).send()


def validator_of(p: Parties, task_id: int) -> MarketClient:
    """The client of whoever validates the task now (drawn or named)."""
    address = p.requester.task(task_id).validator
    for name in ("provider", "validator", "validator2", "stranger", "requester", "deployer"):
        if p.as_(name).account.address == address:
            return p.as_(name)
    raise AssertionError(f"validator {address} is not a test party")


def other_validator(p: Parties, task_id: int) -> MarketClient:
    current = p.requester.task(task_id).validator
    return p.validator2 if p.validator.account.address == current else p.validator


def to_validating(p: Parties, **kw) -> int:
    task_id = create(p, **kw)
    submit(p, task_id)
    return task_id


def to_passed(p: Parties, **kw) -> int:
    task_id = to_validating(p, **kw)
    validator_of(p, task_id).submit_verdict(task_id, True, RESULT_ROOT, K2).send()
    return task_id


def to_failed(p: Parties, **kw) -> int:
    task_id = to_validating(p, **kw)
    validator_of(p, task_id).submit_verdict(task_id, False).send()
    return task_id


def draw(p: Parties, task_id: int, who: str = "stranger") -> bool:
    """Resolve the task's pending draw (in a later block than its request, as automine gives)."""
    tx = p.as_(who).draw_validator(task_id).send()
    return any(e["event"] == "ValidatorAssigned" for e in tx.events)


def to_appealed(p: Parties, **kw) -> tuple[int, MarketClient, MarketClient]:
    """A failed task the provider appealed: (task id, first validator, drawn appeal validator)."""
    task_id = to_failed(p, **kw)
    first = validator_of(p, task_id)
    p.provider.appeal(task_id, p.requester.task(task_id).validator_fee).send()
    assert draw(p, task_id)
    return task_id, first, validator_of(p, task_id)


def random_key() -> bytes:
    return os.urandom(32)


def balance_sheet(p: Parties, extra_accounts: list[str] = ()) -> tuple[int, int]:
    """(contract balance, open escrow + stakes + credits) computed from the public views."""
    m = p.deployer
    escrow = sum(m.escrow_of(i) for i in range(1, m.task_count() + 1))
    parties = [p.deployer, p.requester, p.provider, p.validator, p.validator2, p.stranger]
    addresses = {c.account.address for c in parties} | set(extra_accounts)
    stakes = sum(m.provider(a).stake for a in addresses)
    credits = sum(m.credits(a) for a in addresses)
    return m.contract_balance(), escrow + stakes + credits


def reverts(name: str, call) -> ContractRevert:
    with pytest.raises(ContractRevert) as info:
        call.send()
    assert info.value.name == name, str(info.value)
    return info.value
