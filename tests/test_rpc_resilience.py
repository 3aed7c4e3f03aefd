"""Issue 14: the RPC layer survives the way public nodes fail — 429 with Retry-After, 5xx,
rate-limit answers, refused connections, several endpoints, a circuit that fails fast while a
node is down, and a chain id re-checked after every reconnect. Real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rpc_proxy import send_json
from web3 import Web3

from ichain_tui.chain.errors import NodeUnreachable, WrongChain
from ichain_tui.chain.rpc import CONNECTED, DOWN, WRONG_CHAIN, ResilientProvider


class ScriptedNode:
    """A JSON-RPC endpoint: answers eth_chainId with `chain_id` and eth_blockNumber with 7, after
    playing `script` (a list of ("status", code, headers) or ("error", code, message) steps)."""

    def __init__(self, chain_id: int = 1) -> None:
        self.chain_id = chain_id
        self.script: list[tuple] = []
        self.calls = 0
        node = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                node.calls += 1
                step = node.script.pop(0) if node.script else None
                if step and step[0] == "status":
                    self.send_response(step[1])
                    for key, value in step[2].items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if step and step[0] == "error":
                    answer = {
                        "jsonrpc": "2.0",
                        "id": request["id"],
                        "error": {"code": step[1], "message": step[2]},
                    }
                else:
                    result = hex(node.chain_id) if request["method"] == "eth_chainId" else hex(7)
                    answer = {"jsonrpc": "2.0", "id": request["id"], "result": result}
                send_json(self, answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def node():
    n = ScriptedNode()
    yield n
    n.close()


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"  # closed again: connections are refused


def _provider(urls, **kwargs):
    slept: list[float] = []
    provider = ResilientProvider(urls, timeout=2, sleep=slept.append, **kwargs)
    provider._ever_connected = True  # a node that answered before: the full patience applies
    return provider, slept


def test_429_is_retried_after_the_servers_retry_after(node):
    provider, slept = _provider([node.url])
    node.script = [("status", 429, {"Retry-After": "3"}), ("status", 503, {})]
    assert Web3(provider).eth.block_number == 7
    assert slept[0] == 3.0 and len(slept) == 2  # Retry-After honoured, then our own jittered backoff
    assert provider.status.state == CONNECTED and node.calls == 3


def test_a_rate_limit_answer_is_retried_but_a_range_refusal_and_a_revert_are_answers(node):
    provider, slept = _provider([node.url])
    node.script = [("error", -32005, "daily request count exceeded, request rate limited")]
    assert Web3(provider).eth.block_number == 7 and len(slept) == 1
    node.script = [("error", -32005, "query returned more than 10000 results")]
    answer = provider.make_request("eth_getLogs", [{}])
    assert answer["error"]["code"] == -32005 and len(slept) == 1  # handed back for the range to be halved
    node.script = [("error", 3, "execution reverted")]
    assert provider.make_request("eth_call", [{}, "latest"])["error"]["code"] == 3


def test_a_refusing_endpoint_fails_over_to_the_next(node):
    provider, _ = _provider([_dead_url(), node.url], failover_after=2)
    w3 = Web3(provider)
    assert w3.eth.block_number == 7
    assert provider.status.endpoint == node.url and provider.status.state == CONNECTED


def test_a_dead_node_gives_one_line_after_the_patience_then_fails_fast_until_the_cool_down(node):
    url = _dead_url()
    provider, _ = _provider([url], patience=0.5)
    started = time.monotonic()
    with pytest.raises(NodeUnreachable, match="connection refused"):
        provider.make_request("eth_blockNumber", [])
    assert time.monotonic() - started < 5
    assert provider.status.state == DOWN
    before = provider.requests_made
    with pytest.raises(NodeUnreachable, match="next try in"):
        provider.make_request("eth_blockNumber", [])
    assert provider.requests_made == before  # the open circuit sent nothing


def test_a_node_that_comes_back_on_another_chain_stops_everything_until_it_is_the_right_one(node):
    provider, _ = _provider([node.url])
    w3 = Web3(provider)
    provider.expected_chain_id = w3.eth.chain_id
    node.script = [("status", 502, {})]
    provider.patience = 0
    with pytest.raises(NodeUnreachable):
        provider.make_request("eth_blockNumber", [])
    node.chain_id = 5  # the URL now points at another chain
    provider._open_until = 0
    with pytest.raises(WrongChain, match="chain id 5, not 1"):
        provider.make_request("eth_blockNumber", [])
    assert provider.status.state == WRONG_CHAIN
    with pytest.raises(WrongChain):
        provider.make_request("eth_blockNumber", [])  # no request goes out while stopped
    node.chain_id = 1
    provider._open_until = 0
    assert provider.make_request("eth_blockNumber", [])["result"] == hex(7)
    assert provider.status.state == CONNECTED and provider.status.reconnects >= 1


def test_a_node_that_never_answered_is_reported_within_seconds_not_after_the_full_patience():
    provider = ResilientProvider([_dead_url()], timeout=2, patience=300)
    started = time.monotonic()
    with pytest.raises(NodeUnreachable, match="connection refused"):
        provider.make_request("eth_chainId", [])
    assert time.monotonic() - started < 6
