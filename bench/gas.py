"""Gas of one full protocol-v3 market cycle on eth-tester, as a table and a final JSON line.

Cycle: the requester creates the task naming the provider, with a validator to be drawn at
random; the provider commits its result and key (with a real-size envelope for the requester),
which asks for the draw; in the next block the provider makes the draw with the validator's
real-size envelope sealed to the pick; the validator passes, revealing the key (the provider is
paid there); the requester rates. Run on a fresh market, so every storage slot is written for the first time
(the dearest case); a second cycle between the same parties is shown as the warm case.

    python bench/gas.py
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from eth_account import Account
from eth_utils import keccak

from ichain_tui.agents.envelopes import key_commit
from ichain_tui.chain.client import MarketClient
from ichain_tui.chain.network import connect
from ichain_tui.chain.wallet import public_key

ETH = 10**18
ENVELOPE = 230  # bytes of a one-reference envelope: version, ephemeral key, nonce, reference, tag
PAY = ETH // 100
FEE = PAY // 10  # the market's least validator fee


def _accounts():
    names = ("deployer", "requester", "provider", "validator")
    return {n: Account.from_key(keccak(text=f"bench-{n}")) for n in names}


def main() -> None:
    chain = connect("embedded")
    accts = _accounts()
    for a in accts.values():
        chain.fund(a.address, 100 * ETH)
    market = MarketClient.deploy(chain, accts["deployer"])
    req, prov, val = (market.as_account(accts[n]) for n in ("requester", "provider", "validator"))
    prov.register_provider(public_key(prov.account), PAY, "cpu=8 ram=32G", ETH // 10).send()
    val.register_provider(public_key(val.account), PAY, "cpu=4 ram=16G", ETH // 10).send()
    cycles = []
    for _ in range(2):
        rows: list[tuple[str, str, int]] = []
        tx = req.create_task(
            provider=prov.account.address,
            payment=PAY,
            validator_fee=FEE,
            task_root=b"\x11" * 32,
            requester_key=public_key(req.account),
            provider_envelope=b"\xaa" * ENVELOPE,
        ).send()
        rows.append(("requester", "createTask", tx.gas_used))
        task_id = req.task_id_of(tx)
        k2, root = os.urandom(32), os.urandom(32)
        tx = prov.submit_result(task_id, root, key_commit(k2, task_id, root), b"\xcc" * ENVELOPE, b"").send()
        rows.append(("provider", "submitResult (asks)", tx.gas_used))
        expected = prov.pending_validator(task_id)
        tx = prov.draw_validator(task_id, expected, b"\xdd" * (2 * ENVELOPE - 66)).send()
        rows.append(("provider", "drawValidator", tx.gas_used))
        assert req.task(task_id).validator == val.account.address == expected
        tx = val.submit_verdict(task_id, True, root, k2).send()
        rows.append(("validator", "submitVerdict(pass)", tx.gas_used))
        tx = req.rate(task_id, 5).send()
        rows.append(("requester", "rate", tx.gas_used))
        cycles.append(rows)
    assert req.rating(prov.account.address).count == 2
    for title, rows in zip(
        ("first cycle on a fresh market (cold storage)", "second cycle (warm)"), cycles, strict=False
    ):
        print(f"\n{title}")
        print(f"{'party':<10} {'call':<22} {'gas':>9}")
        for who, call, gas in rows:
            print(f"{who:<10} {call:<22} {gas:>9,}")
        print(f"{'':<10} {'total':<22} {sum(g for _, _, g in rows):>9,}")
    cold, warm = cycles
    print(
        json.dumps(
            {
                "total_gas": sum(g for _, _, g in cold),
                "requester_txs": sum(1 for who, _, _ in cold if who == "requester"),
                "total_gas_warm": sum(g for _, _, g in warm),
                "envelope_bytes": ENVELOPE,
            }
        )
    )


if __name__ == "__main__":
    main()
