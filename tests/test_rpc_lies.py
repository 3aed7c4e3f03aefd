"""Issue 23, item 5: a fallback endpoint that lies (zero balances, no logs, no receipts) is caught
by what the chain has already shown, left out with one warning line, and the first endpoint is
taken back as soon as it answers; nothing stays on the liar. Real anvil behind real proxies."""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

import pytest
from rpc_proxy import JsonRpcProxy, SwitchableProxy
from web3 import Web3

from ichain_tui.chain import rpc
from ichain_tui.chain.errors import NodeUnreachable
from ichain_tui.chain.rpc import ResilientProvider


@pytest.fixture
def endpoints(anvil_node):
    url = urlsplit(anvil_node.url)
    primary = SwitchableProxy(url.hostname, url.port)
    liar = JsonRpcProxy(anvil_node.url)
    liar.lie = True
    yield primary, liar
    primary.close()
    liar.close()


def _mined_transfer(w3: Web3) -> tuple[str, dict]:
    """A transfer between anvil's own accounts, mined, with REORG_DEPTH blocks on top of it."""
    sender, receiver = w3.eth.accounts[0], w3.eth.accounts[1]
    tx_hash = w3.eth.send_transaction({"from": sender, "to": receiver, "value": 1})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    for _ in range(4):
        w3.provider.make_request("evm_mine", [])
    assert w3.eth.block_number > 0  # the head, as evidence
    return tx_hash.to_0x_hex(), dict(receipt)


def test_a_fallback_that_denies_a_mined_receipt_is_left_out_in_one_line(endpoints, caplog):
    primary, liar = endpoints
    provider = ResilientProvider([primary.url, liar.url], timeout=2, patience=3)
    w3 = Web3(provider)
    tx_hash, receipt = _mined_transfer(w3)
    primary.take_down()
    caplog.set_level(logging.WARNING, logger="ichain_tui.chain.rpc")
    with pytest.raises(NodeUnreachable, match=f"left out for contradicting the chain: {liar.url}"):
        w3.eth.get_transaction_receipt(tx_hash)  # the primary is down and the liar left out
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"rpc left out {liar.url} for 10 min: it answered no receipt for transaction {tx_hash[:12]}… mined in block {receipt['blockNumber']}"
    ]
    # the primary back: the next request after the cool-down reaches it, and the answer is true
    primary.bring_back()
    provider.retry_now()
    assert w3.eth.get_transaction_receipt(tx_hash)["blockHash"] == receipt["blockHash"]
    assert provider.current == primary.url


def test_a_fallback_without_the_logs_already_seen_is_left_for_the_primary(endpoints):
    primary, liar = endpoints
    provider = ResilientProvider([primary.url, liar.url], timeout=2, patience=5)
    w3 = Web3(provider)
    weth_like = w3.eth.accounts[2]
    # a real log: a contract that emits one on every call (runtime: LOG0 of nothing, STOP)
    code = "0x600a600c600039600a6000f3" + "60006000a000"  # init copies 6 bytes of runtime code
    created = w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": weth_like, "data": code}))
    emitter = created["contractAddress"]
    call = w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": weth_like, "to": emitter}))
    assert len(call["logs"]) == 1
    for _ in range(4):
        w3.provider.make_request("evm_mine", [])
    assert w3.eth.block_number > 0
    # the primary drops one request's connection: the fallback takes over, and lies about logs
    primary.take_down()
    time.sleep(0.1)
    # back only once the liar has answered the logs (a fixed delay raced a loaded machine)
    bring_back_when(primary, lambda: liar.calls["eth_getLogs"] > 0)
    logs = w3.eth.get_logs(
        {"fromBlock": call["blockNumber"], "toBlock": call["blockNumber"], "address": emitter}
    )
    assert [log["transactionHash"] for log in logs] == [call["transactionHash"]]
    assert provider.current == primary.url and liar.url in provider.dropped


def test_the_primary_is_taken_back_once_it_answers(endpoints, monkeypatch):
    primary, liar = endpoints
    liar.lie = False  # an honest fallback: still, the first endpoint is preferred
    monkeypatch.setattr(rpc, "PRIMARY_RETRY_S", 0.5)
    provider = ResilientProvider([primary.url, liar.url], timeout=2, patience=5)
    w3 = Web3(provider)
    assert w3.eth.block_number > 0
    primary.take_down()
    assert w3.eth.block_number > 0
    assert provider.current == liar.url
    primary.bring_back()
    time.sleep(0.6)
    assert w3.eth.block_number > 0
    assert provider.current == primary.url


def test_a_zero_balance_at_a_block_seen_otherwise_is_a_contradiction():
    from ichain_tui.chain.evidence import Evidence

    evidence = Evidence()
    owner = "0x" + "ab" * 20
    evidence.observe("eth_getBalance", [owner, "0x10"], "0xde0b6b3a7640000")
    assert evidence.contradiction("eth_getBalance", [owner, "0x10"], "0x0") == (
        f"another balance for {owner[:10]}… at block 16"
    )
    assert (
        evidence.contradiction("eth_getBalance", [owner, "0x11"], "0x0") is None
    )  # a later block may differ


def bring_back_when(proxy: SwitchableProxy, ready, timeout: float = 20.0) -> None:
    """Bring `proxy` back as soon as `ready()` holds (or after `timeout`), from a thread."""
    import threading

    def wait() -> None:
        deadline = time.monotonic() + timeout
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.02)
        proxy.bring_back()

    threading.Thread(target=wait, daemon=True).start()
