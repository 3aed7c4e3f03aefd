"""Gas of one full market cycle on eth-tester (the seed flow), as a table and a final JSON line.

Seed flow: requester creates the task naming the provider; provider submits its result;
requester names the validator; validator passes; requester finalises and rates. A second run
names the validator at creation (two requester transactions).

    python bench/gas.py
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from eth_account import Account  # noqa: E402
from eth_utils import keccak  # noqa: E402

from ichain_tui.chain.client import MarketClient  # noqa: E402
from ichain_tui.chain.network import connect  # noqa: E402
from ichain_tui.chain.wallet import public_key  # noqa: E402

ETH = 10**18
ENVELOPE = 230  # bytes of a real envelope: ephemeral key, nonce, wrapped key + locator, tag


def _accounts():
    return {n: Account.from_key(keccak(text=f"bench-{n}")) for n in ("deployer", "requester", "provider", "validator")}


def run_cycle(validator_at_creation: bool) -> tuple[list[tuple[str, str, int]], int]:
    chain = connect("embedded")
    accts = _accounts()
    for a in accts.values():
        chain.fund(a.address, 100 * ETH)
    market = MarketClient.deploy(chain, accts["deployer"])
    req, prov, val = (market.as_account(accts[n]) for n in ("requester", "provider", "validator"))
    prov.register_provider(public_key(prov.account), ETH // 100, "cpu=8 ram=32G", ETH // 10).send()
    val.register_provider(public_key(val.account), ETH // 100, "cpu=4 ram=16G", ETH // 10).send()
    rows: list[tuple[str, str, int]] = []
    tx = req.create_task(
        provider=prov.account.address,
        validator=val.account.address if validator_at_creation else None,
        payment=ETH // 100, validator_fee=ETH // 1000, task_root=b"\x11" * 32,
        requester_key=public_key(req.account), provider_envelope=b"\xaa" * ENVELOPE,
        validator_envelope=b"\xbb" * ENVELOPE if validator_at_creation else b"",
    ).send()
    rows.append(("requester", "createTask", tx.gas_used))
    task_id = req.task_id_of(tx)
    tx = prov.submit_result(task_id, b"\x22" * 32, b"\xcc" * ENVELOPE,
                            b"\xdd" * ENVELOPE if validator_at_creation else b"").send()
    rows.append(("provider", "submitResult", tx.gas_used))
    if not validator_at_creation:
        tx = req.assign_validator(task_id, val.account.address, b"\xee" * (2 * ENVELOPE)).send()
        rows.append(("requester", "assignValidator", tx.gas_used))
    tx = val.submit_verdict(task_id, True).send()
    rows.append(("validator", "submitVerdict(pass)", tx.gas_used))
    tx = req.finalize_and_rate(task_id, 5).send()
    rows.append(("requester", "finalizeAndRate", tx.gas_used))
    assert req.rating(prov.account.address).count == 1
    return rows, sum(1 for who, _, _ in rows if who == "requester")


def main() -> None:
    seed_rows, seed_txs = run_cycle(validator_at_creation=False)
    named_rows, named_txs = run_cycle(validator_at_creation=True)
    for title, rows in (("seed flow (validator named after the result)", seed_rows),
                        ("validator named at creation", named_rows)):
        print(f"\n{title}")
        print(f"{'party':<10} {'call':<22} {'gas':>9}")
        for who, call, gas in rows:
            print(f"{who:<10} {call:<22} {gas:>9,}")
        print(f"{'':<10} {'total':<22} {sum(g for _, _, g in rows):>9,}")
    print(json.dumps({
        "total_gas": sum(g for _, _, g in seed_rows),
        "requester_txs": seed_txs,
        "total_gas_validator_at_creation": sum(g for _, _, g in named_rows),
        "requester_txs_validator_at_creation": named_txs,
        "envelope_bytes": ENVELOPE,
    }))


if __name__ == "__main__":
    main()
