"""Issue 14: transactions always end, and never twice — through a JSON-RPC proxy on 127.0.0.1 in
front of a real anvil that loses the answer to a send, drops a transaction from the mempool,
answers 429, or sees the base fee spike after a send."""

from __future__ import annotations

import os
import time

import pytest
from eth_account import Account
from rpc_proxy import JsonRpcProxy

from ichain_tui.chain.client import MarketClient
from ichain_tui.chain.devnet import Devnet
from ichain_tui.chain.errors import ChainError
from ichain_tui.chain.network import connect
from ichain_tui.chain.txjournal import TxJournal
from ichain_tui.chain.types import ValidatorMode
from ichain_tui.chain.wallet import public_key
from ichain_tui.hardware import HardwareProfile

PAY = 10**16


@pytest.fixture(scope="module")
def devnet_market():
    with Devnet(accounts=4) as devnet:
        chain = connect(devnet.url)
        keys = devnet.dev_keys()
        market = MarketClient.deploy(chain, Account.from_key(keys[0]), min_stake=10**16)
        provider = Account.from_key(keys[1])
        market.as_account(provider).register_provider(public_key(provider), PAY, "cpu=1", 10**17).send()
        yield devnet, market, provider, Account.from_key(keys[2])


@pytest.fixture
def proxied(devnet_market, tmp_path):
    """The requester's view of the market through a faulty proxy, with its own tx journal."""
    devnet, market, provider, requester = devnet_market
    proxy = JsonRpcProxy(devnet.url)
    chain = connect(proxy.url)
    chain.tx_journal = TxJournal(tmp_path / "tx")
    chain.bump_after = 1.0
    try:
        yield proxy, MarketClient(chain, market.address, requester), provider, market
    finally:
        proxy.close()


def _create(client, provider):
    return client.create_task(
        provider=provider.address,
        payment=PAY,
        task_root=os.urandom(32),
        mode=ValidatorMode.NONE,
        requester_key=public_key(client.account),
        execute_window=300,
        review_window=300,
    )


def _spent_and_count(client, call, market):
    before_balance, before_count = market.chain.balance(client.account.address), market.task_count()
    result = call()
    return (
        before_balance - market.chain.balance(client.account.address),
        market.task_count() - before_count,
        result,
    )


def test_a_lost_answer_to_create_task_escrows_once_and_returns_the_task(proxied):
    proxy, client, provider, market = proxied
    proxy.lose_raw_answer = 1
    call = _create(client, provider)
    spent, created, result = _spent_and_count(client, call.send, market)
    assert created == 1 and proxy.calls["eth_sendRawTransaction"] >= 2  # the send was retried, not repeated
    assert PAY <= spent < PAY + 10**15  # one escrow plus gas
    assert client.task_id_of(result) == market.task_count()


def test_a_transaction_dropped_from_the_mempool_is_replaced_and_mined_once(proxied):
    proxy, client, provider, market = proxied
    proxy.drop_raw = 1
    started = time.monotonic()
    spent, created, result = _spent_and_count(client, _create(client, provider).send, market)
    assert created == 1 and len(proxy.dropped) == 1
    assert result.tx_hash != proxy.dropped[0]  # the replacement (higher fee, same nonce) was mined
    assert time.monotonic() - started < 30 and PAY <= spent < PAY + 10**15


def test_a_send_whose_outcome_was_not_seen_is_reconciled_not_repeated(proxied):
    """A process sends, the answer is lost and it gives up (or is killed) before the receipt: the
    journal holds the signed transaction; sending the same intent again returns its outcome."""
    proxy, client, provider, market = proxied
    anvil = market.chain.w3.provider
    anvil.make_request("evm_setAutomine", [False])
    try:
        proxy.lose_raw_answer = 5
        call = _create(client, provider)
        with pytest.raises(ChainError, match="not mined within"):
            call.send(timeout=0.5)
        assert client.chain.tx_journal.pending(client.account.address, call.intent())
        before = market.task_count()
        anvil.make_request("evm_mine", [])
        result = call.send()
        assert market.task_count() == before + 1 and client.task_id_of(result) == before + 1
        assert not client.chain.tx_journal.pending(client.account.address, call.intent())
    finally:
        anvil.make_request("evm_setAutomine", [True])


def test_a_base_fee_spike_is_outbid_up_to_the_fee_cap_and_then_one_line(proxied):
    _proxy, client, provider, market = proxied
    anvil = market.chain.w3.provider
    anvil.make_request("evm_setAutomine", [False])
    anvil.make_request("evm_setIntervalMining", [1])
    try:
        call = _create(client, provider)
        base = client.chain.fees().base_fee
        anvil.make_request("anvil_setNextBlockBaseFeePerGas", [hex(base * 40)])
        client.chain.fee_cap = base * 10  # the user's cap is below what the spike needs
        with pytest.raises(ChainError, match="fee cap max_fee_gwei"):
            call.send(timeout=6)
        anvil.make_request("anvil_setNextBlockBaseFeePerGas", [hex(base * 40)])
        client.chain.fee_cap = None  # raised: sent once, outbidding the spike
        before = market.task_count()
        result = call.send(timeout=60)
        assert (
            market.task_count() == before + 1 and result.effective_gas_price > base * 10
        )  # above the old cap
    finally:
        anvil.make_request("evm_setIntervalMining", [0])
        anvil.make_request("evm_setAutomine", [True])


def test_429_with_retry_after_is_waited_out(proxied):
    proxy, client, provider, market = proxied
    proxy.throttle_until = time.monotonic() + 2.5
    before = market.task_count()
    client.chain.nonces.forget()
    result = _create(client, provider).send()
    assert market.task_count() == before + 1 and result.block > 0
    assert 2 <= proxy.calls["429"] <= 6  # about one retry per Retry-After second, not a storm


def test_a_provider_stops_acting_when_the_chain_id_changes_or_the_market_vanishes(tmp_path):
    """Under a running provider loop the node comes back as another chain id, then as a chain
    without the market: each is one clear error (rate-limited), nothing is sent, the loop lives."""
    import threading

    from rpc_proxy import SwitchableProxy
    from sandbox_helpers import runtime_sandbox

    from ichain_tui.agents.hosting import Host
    from ichain_tui.agents.provider import ProviderAgent

    with Devnet(accounts=3) as first, Devnet(accounts=3) as second:
        keys = first.dev_keys()
        proxy = SwitchableProxy("127.0.0.1", first.port)
        chain = connect(proxy.url)
        chain.w3.provider.recheck_every = 1.0  # (300 s in real use)
        market = MarketClient.deploy(chain, Account.from_key(keys[0]), min_stake=10**16)
        events = []
        host = Host()
        agent = ProviderAgent(
            market.as_account(Account.from_key(keys[1])),
            runtime_sandbox(),
            host,
            tmp_path / "agent",
            rate=PAY,
            stake=10**17,
            hardware=HardwareProfile(cpus=1),
            report=events.append,
        )
        agent.start_providing()
        sent = chain.w3.eth.get_transaction_count(agent.me)
        stop = threading.Event()
        loop = threading.Thread(target=agent.run, args=(stop,), kwargs={"interval": 0.2}, daemon=True)
        loop.start()

        def wait_error(text: str) -> list[str]:
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline:
                found = [e.message for e in events if e.kind == "error" and text in e.message]
                if found:
                    return found
                time.sleep(0.2)
            raise AssertionError([e.message for e in events])

        try:
            connect(first.url).w3.provider.make_request("anvil_setChainId", [777])
            proxy.take_down()
            time.sleep(0.5)
            proxy.bring_back()
            assert wait_error("chain id 777")
            time.sleep(3)
            assert len([e for e in events if "chain id 777" in e.message]) <= 3  # once, then at 2, 4, 8...
            assert chain.rpc_status.state == "wrong chain"

            proxy.take_down()
            proxy.target = ("127.0.0.1", second.port)  # the same chain id, but not this chain's history
            proxy.bring_back()
            assert wait_error("no Marketplace")
            assert loop.is_alive()
            assert connect(first.url).w3.eth.get_transaction_count(agent.me) == sent  # nothing was sent
        finally:
            stop.set()
            proxy.close()
            host.stop()
