"""Test helpers that drive the Marketplace through its usual steps."""

from __future__ import annotations

from conftest import FEE, PRICE, Parties

TASK_ROOT = bytes.fromhex("11" * 32)
RESULT_ROOT = bytes.fromhex("22" * 32)


def create(p: Parties, *, validator: bool = False, provider: bool = True, payment: int = PRICE, fee: int = FEE,
           execute_window: int = 600, review_window: int = 600) -> int:
    tx = p.requester.create_task(
        provider=p.provider.account.address if provider else None,
        validator=p.validator.account.address if validator else None,
        payment=payment,
        validator_fee=fee,
        task_root=TASK_ROOT,
        requester_key=p.pub(p.requester),
        execute_window=execute_window,
        review_window=review_window,
        provider_envelope=b"\x01" * 200,
        validator_envelope=b"\x02" * 200 if validator else b"",
    ).send()
    return p.requester.task_id_of(tx)


def submit(p: Parties, task_id: int) -> None:
    p.provider.submit_result(task_id, RESULT_ROOT, b"\x03" * 200).send()


def name_validator(p: Parties, task_id: int, who: str = "validator") -> None:
    p.requester.assign_validator(task_id, p.as_(who).account.address, b"\x04" * 300).send()


def to_validating(p: Parties) -> int:
    task_id = create(p)
    submit(p, task_id)
    name_validator(p, task_id)
    return task_id


def to_passed(p: Parties) -> int:
    task_id = to_validating(p)
    p.validator.submit_verdict(task_id, True).send()
    return task_id


def balance_sheet(p: Parties, extra_accounts: list[str] = ()) -> tuple[int, int]:
    """(contract balance, open escrow + stakes + credits) computed from the public views."""
    m = p.deployer
    escrow = sum(m.escrow_of(i) for i in range(1, m.task_count() + 1))
    parties = [p.deployer, p.requester, p.provider, p.validator, p.validator2, p.stranger]
    addresses = {c.account.address for c in parties} | set(extra_accounts)
    stakes = sum(m.provider(a).stake for a in addresses)
    credits = sum(m.credits(a) for a in addresses)
    return m.contract_balance(), escrow + stakes + credits
