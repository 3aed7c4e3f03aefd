"""O(1) gas: createTask and drawValidator (the random validator draw) cost the same with 2 and with
300 registered providers (real anvil)."""

from __future__ import annotations

from conftest import account
from eth_account import Account
from eth_utils import keccak
from market_flow import K2, RESULT_ROOT, TASK_ROOT, key_commit

from ichain_tui.chain.client import MarketClient
from ichain_tui.chain.network import connect
from ichain_tui.chain.types import ProviderTerms
from ichain_tui.chain.wallet import public_key

PRICE = 10**15


def _register_many(chain, market: MarketClient, first: int, count: int) -> list:
    """Register `count` fresh providers quickly: fund, sign and send without waiting per tx."""
    w3 = chain.w3
    fn_abi = market.contract.functions
    accounts = [Account.from_key(keccak(text=f"gas-provider-{i}")) for i in range(first, first + count)]
    hashes = []
    for acct in accounts:
        chain.fund(acct.address, 10**18)
        tx = fn_abi.registerProvider(
            public_key(acct), ProviderTerms(PRICE).as_tuple(), "cpu=1"
        ).build_transaction(
            {
                "from": acct.address,
                "value": 10**16,
                "nonce": 0,
                "gas": 300_000,
                "maxFeePerGas": 10**11,
                "maxPriorityFeePerGas": 10**9,
                "chainId": chain.chain_id,
            }
        )
        hashes.append(w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction))
    for h in hashes:
        assert w3.eth.wait_for_transaction_receipt(h, poll_latency=0.01)["status"] == 1
    return accounts


def _cycle_gas(market: MarketClient, provider) -> tuple[int, int]:
    """Gas of createTask and of the provider's submitResult (which draws the validator)."""
    tx = market.create_task(
        provider=provider.address,
        payment=PRICE,
        validator_fee=PRICE // 10,
        task_root=TASK_ROOT,
        requester_key=public_key(market.account),
        provider_envelope=b"\x05" * 200,
    ).send()
    task_id = market.task_id_of(tx)
    market.as_account(provider).submit_result(task_id, RESULT_ROOT, key_commit(task_id, K2), b"r", b"").send()
    drawn = market.as_account(provider).draw_validator(task_id, None, b"\x04" * 240).send()
    return tx.gas_used, drawn.gas_used


def test_create_task_gas_does_not_grow_with_the_provider_pool(anvil_node):
    chain = connect(anvil_node.url)
    snap = chain.snapshot()
    try:
        requester = account("gas-requester")
        chain.fund(requester.address, 100 * 10**18)
        market = MarketClient.deploy(chain, requester, min_stake=10**16)
        first = _register_many(chain, market, 0, 2)
        create_small, submit_small = _cycle_gas(market, first[0])
        many = _register_many(chain, market, 2, 298)
        assert market.task(1).validator == first[1].address
        assert market.provider(many[-1].address).registered
        create_large, submit_large = _cycle_gas(market, many[-1])
        assert market.task(2).validator not in (None, many[-1].address)
        assert abs(create_large - create_small) <= 0.01 * create_small, (create_small, create_large)
        # a small pool may need a few more of the (at most 24) draw probes; a large one never costs more
        assert submit_large <= 1.02 * submit_small, (submit_small, submit_large)
        assert submit_small <= 1.15 * submit_large, (submit_small, submit_large)
    finally:
        chain.revert(snap)
