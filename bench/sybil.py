"""What a bought reputation costs under protocol v3 (issues 9 and 21), on eth-tester.

An honest provider H has five genuine validated 5-star tasks of 0.1 ETH (five requesters,
validators drawn from a pool of four honest staked validators). An attacker owns a provider A
(price 0.001 ETH, cheaper than H) and a requester R. It buys validated 5-star tasks from itself,
each paying A (its own money: free) and the drawn validator's least fee (a party it does not
control), until `choose_provider` — what the requester agent and the TUI's picker use — prefers A
over H. Tasks where the attacker names its own validator or takes none are free but count nothing
(shown first). The last line is JSON with `sybil_cost_eth` (ether paid to parties the attacker
does not control; target >= 0.05) and the gas it spent.

    python bench/sybil.py
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from eth_account import Account
from eth_utils import keccak

from ichain_tui.agents.envelopes import key_commit
from ichain_tui.agents.selection import choose_provider
from ichain_tui.chain.client import MarketClient
from ichain_tui.chain.network import connect
from ichain_tui.chain.types import ValidatorMode
from ichain_tui.chain.wallet import public_key

ETH = 10**18
GENUINE = ETH // 10
STEP = ETH // 20  # the attacker's task size
GAS_PRICE = 10 * 10**9  # 10 gwei, to express the gas in ether


def account(name: str):
    return Account.from_key(keccak(text=f"sybil-bench-{name}"))


class Market:
    def __init__(self) -> None:
        self.chain = connect("embedded")
        deployer = account("deployer")
        self.chain.fund(deployer.address, 10 * ETH)
        self.root = MarketClient.deploy(self.chain, deployer, min_stake=ETH // 100)
        self.clients: dict[str, MarketClient] = {}
        self.seen_before_commit = 0  # random draws readable while the provider could still back out

    def client(self, name: str, funds: int = 100 * ETH) -> MarketClient:
        if name not in self.clients:
            acct = account(name)
            self.chain.fund(acct.address, funds)
            self.clients[name] = self.root.as_account(acct)
        return self.clients[name]

    def by_address(self, address: str) -> MarketClient:
        return next(c for c in self.clients.values() if c.account.address == address)

    def task(
        self,
        requester: MarketClient,
        provider: MarketClient,
        payment: int,
        rating: int,
        mode: ValidatorMode = ValidatorMode.RANDOM,
        validator: MarketClient | None = None,
    ) -> tuple[int, str, int]:
        """One honest-to-the-protocol task: create, submit, pass, rate. Returns (fee, validator, gas)."""
        fee = 0 if mode is ValidatorMode.NONE else requester.min_fee_for(payment)
        gas = 0
        tx = requester.create_task(
            provider=provider.account.address,
            mode=mode,
            payment=payment,
            validator_fee=fee,
            validator=validator.account.address if validator else None,
            task_root=os.urandom(32),
            requester_key=public_key(requester.account),
            provider_envelope=b"\x01" * 230,
        ).send()
        gas += tx.gas_used
        task_id = requester.task_id_of(tx)
        k2, root = os.urandom(32), os.urandom(32)
        # the steering attacker looks for its draw as early as it can: before it commits, where it
        # could still decline for free and try again (v2 let it see the draw at creation)
        if mode is ValidatorMode.RANDOM and provider.pending_validator(task_id) is not None:
            self.seen_before_commit += 1
        gas += (
            provider.submit_result(
                task_id, root, key_commit(k2, task_id, root), b"r" * 230, b"v" * 400 if validator else b""
            )
            .send()
            .gas_used
        )
        if mode is ValidatorMode.RANDOM:
            gas += provider.draw_validator(task_id, None, b"v" * 400).send().gas_used
        if mode is ValidatorMode.NONE:
            gas += provider.claim_payment(task_id, root, k2).send().gas_used
            drawn = ""
        else:
            drawn = requester.task(task_id).validator
            self.by_address(drawn).submit_verdict(task_id, True, root, k2).send()  # the check passes
        gas += requester.rate(task_id, rating).send().gas_used
        return fee, drawn, gas


def attack(keep_accomplice: bool) -> dict:
    """A fresh market; returns what the attacker paid until it was preferred."""
    m = Market()
    honest = m.client("honest")
    honest.register_provider(public_key(honest.account), ETH // 100, "cpu=32 gpu=1x A100", ETH).send()
    for i in range(4):
        v = m.client(f"validator{i}")
        v.register_provider(public_key(v.account), ETH // 100, "cpu=8", ETH).send()
    for i in range(5):
        m.task(m.client(f"requester{i}"), honest, GENUINE, 5)
    attacker, buyer = m.client("attacker", 1000 * ETH), m.client("attacker-requester", 1000 * ETH)
    attacker.register_provider(public_key(attacker.account), ETH // 1000, "cpu=1", 10 * ETH).send()
    shopper = m.client("shopper")

    def preferred() -> str:
        chosen = choose_provider(shopper, GENUINE)
        return "attacker" if chosen and chosen.address == attacker.account.address else "honest"

    # Free ratings (own validator, or none) count nothing.
    accomplice = m.client("accomplice")
    accomplice.register_provider(public_key(accomplice.account), 0, "cpu=1", ETH).send()
    for _ in range(12):
        m.task(buyer, attacker, STEP, 5, ValidatorMode.NAMED, accomplice)
        m.task(buyer, attacker, STEP, 5, ValidatorMode.NONE)
    free_counted = m.root.rating(attacker.account.address).count
    after_free = preferred()
    if not keep_accomplice:
        accomplice.set_available(False).send()

    paid_to_others, gas, tasks = 0, 0, 0
    controlled = {attacker.account.address, buyer.account.address, accomplice.account.address}
    while preferred() != "attacker":
        fee, drawn, used = m.task(buyer, attacker, STEP, 5)
        tasks += 1
        gas += used
        if drawn not in controlled:
            paid_to_others += fee
        assert tasks < 200, "the attacker never overtook"
    return {
        "cost": paid_to_others,
        "tasks": tasks,
        "gas": gas,
        "free_counted": free_counted,
        "after_free": after_free,
        "seen_before_commit": m.seen_before_commit,
    }


def main() -> None:
    alone = attack(keep_accomplice=False)
    print(
        f"24 free 5-star ratings (own validator / none): counted {alone['free_counted']}, "
        f"preferred after them: {alone['after_free']}"
    )
    print(
        f"attacker = provider + requester: {alone['tasks']} validated 5-star tasks of {STEP / ETH:g} ETH, "
        f"fees to drawn validators {alone['cost'] / ETH:.4f} ETH, gas {alone['gas']:,} "
        f"({alone['gas'] * GAS_PRICE / ETH:.4f} ETH at 10 gwei)"
    )
    diluted = attack(keep_accomplice=True)
    print(
        f"... plus its own staked validator in a pool of 5 honest ones: {diluted['tasks']} tasks, "
        f"fees to others {diluted['cost'] / ETH:.4f} ETH (the draws that picked its own validator cost nothing)"
    )
    print(
        json.dumps(
            {
                "sybil_cost_eth": round(alone["cost"] / ETH, 6),
                "tasks_bought": alone["tasks"],
                "gas_eth_at_10_gwei": round(alone["gas"] * GAS_PRICE / ETH, 6),
                "free_ratings_counted": alone["free_counted"],
                "sybil_cost_eth_with_own_validator_in_pool": round(diluted["cost"] / ETH, 6),
                "draws_seen_before_commit": alone["seen_before_commit"] + diluted["seen_before_commit"],
            }
        )
    )


if __name__ == "__main__":
    main()
