"""O(1) gas: createTask, including the random validator draw, costs the same with 2 and with 300
registered providers (real anvil)."""

from __future__ import annotations

from conftest import account
from eth_account import Account
from eth_utils import keccak
from market_flow import TASK_ROOT

from ichain_tui.chain.client import MarketClient
from ichain_tui.chain.network import connect
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
        tx = fn_abi.registerProvider(public_key(acct), PRICE, "cpu=1").build_transaction(
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


def _create_gas(market: MarketClient, provider) -> int:
    tx = market.create_task(
        provider=provider.address,
        payment=PRICE,
        validator_fee=PRICE // 10,
        task_root=TASK_ROOT,
        requester_key=public_key(market.account),
        provider_envelope=b"\x05" * 200,
    ).send()
    return tx.gas_used


def test_create_task_gas_does_not_grow_with_the_provider_pool(anvil_node):
    chain = connect(anvil_node.url)
    snap = chain.snapshot()
    try:
        requester = account("gas-requester")
        chain.fund(requester.address, 100 * 10**18)
        market = MarketClient.deploy(chain, requester, min_stake=10**16)
        first = _register_many(chain, market, 0, 2)
        gas_small_pool = _create_gas(market, first[0])
        many = _register_many(chain, market, 2, 298)
        assert market.task(1).validator == first[1].address
        assert market.provider(many[-1].address).registered
        gas_large_pool = _create_gas(market, many[-1])
        assert market.task(2).validator not in (None, many[-1].address)
        # A small pool may need a few more of the (at most 7) draw probes; a large one never costs more.
        assert gas_large_pool <= 1.02 * gas_small_pool, (gas_small_pool, gas_large_pool)
        assert gas_small_pool <= 1.05 * gas_large_pool, (gas_small_pool, gas_large_pool)
    finally:
        chain.revert(snap)
