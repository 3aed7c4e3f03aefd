"""A TCP proxy on 127.0.0.1 in front of a JSON-RPC node that a test can take down and bring
back: while down it accepts and closes every connection at once (what a refusing or crashed
endpoint looks like to a client) and cuts the connections that were open."""

from __future__ import annotations

import socket
import threading
import time

from ichain_tui.transfer.watchdog import shut_down


def send_json(handler, answer) -> None:
    """Answer an HTTP request (a BaseHTTPRequestHandler) with a JSON body."""
    import json

    data = json.dumps(answer).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class SwitchableProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.down = threading.Event()
        self.refused = 0
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True, name="rpc-proxy").start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down.is_set():
                self.refused += 1
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:  # taken down while connecting: this connection must not outlive it
                if self.down.is_set():
                    self.refused += 1
                    shut_down([client, upstream])
                    continue
                self._open |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            with self._lock:
                self._open -= {src, dst}

    def take_down(self) -> None:
        with self._lock:
            self.down.set()
            sockets = list(self._open)
        shut_down(sockets)

    def bring_back(self) -> None:
        self.down.clear()

    def close(self) -> None:
        self.take_down()
        self.listener.close()


class JsonRpcProxy:
    """An HTTP JSON-RPC proxy on 127.0.0.1 in front of a node that refuses `eth_getLogs` over
    more than `max_log_blocks` blocks with a public provider's own error message, and counts the
    requests of every method."""

    ALCHEMY = (
        "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range "
        "and no limit on the response size, or you can request any block range with a cap of 10K logs "
        "in the response."
    )

    def __init__(self, target_url: str, max_log_blocks: int | None = None, message: str = ALCHEMY) -> None:
        import collections
        import json
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        import requests

        self.target_url = target_url
        self.max_log_blocks = max_log_blocks
        self.message = message
        self.calls: collections.Counter = collections.Counter()
        self.refused = 0
        self.throttle_until = 0.0  # answer HTTP 429 (Retry-After: 1) until this time.monotonic()
        self.drop_raw = 0  # eth_sendRawTransaction: answer the hash, never forward (a mempool drop)
        self.lose_raw_answer = 0  # eth_sendRawTransaction: forward, then answer 502 (the answer is lost)
        self.dropped: list[str] = []
        self.lag = 0  # answer as a read replica `lag` blocks behind the node would
        self.client_version: str | None = (
            None  # answer web3_clientVersion with this (look like a public node)
        )
        self.latency = 0.0  # seconds added to every answer
        self.lie = False  # answer zero balances, no logs and no receipts (a lying fallback)
        proxy = self
        session = requests.Session()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = json.loads(body)
                if time.monotonic() < proxy.throttle_until:
                    proxy.calls["429"] += 1
                    self.send_response(429)
                    self.send_header("Retry-After", "1")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                try:
                    answer = proxy._answer(request, session)
                except (OSError, ValueError):  # the node behind is away: what a gateway answers
                    answer = None
                if answer is None:  # forwarded, but the answer is lost on the way back
                    self.send_response(502)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                send_json(self, answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _answer(self, request, session):
        if isinstance(request, list):
            return [self._answer(r, session) for r in request]
        self.calls[request.get("method")] += 1
        if self.latency:
            time.sleep(self.latency)
        if self.lie and request.get("method") in self._LIES:
            return {"jsonrpc": "2.0", "id": request.get("id"), "result": self._LIES[request["method"]]}
        if request.get("method") == "web3_clientVersion" and self.client_version:
            return {"jsonrpc": "2.0", "id": request.get("id"), "result": self.client_version}
        if self.lag:
            lagged = self._lagged(request, session)
            if lagged is not None:
                return lagged
        if request.get("method") == "eth_sendRawTransaction" and self.drop_raw > 0:
            from eth_utils import keccak

            self.drop_raw -= 1
            tx_hash = "0x" + keccak(bytes.fromhex(request["params"][0][2:])).hex()
            self.dropped.append(tx_hash)
            return {"jsonrpc": "2.0", "id": request.get("id"), "result": tx_hash}
        if request.get("method") == "eth_sendRawTransaction" and self.lose_raw_answer > 0:
            self.lose_raw_answer -= 1
            session.post(self.target_url, json=request, timeout=30)
            return None
        if request.get("method") == "eth_getLogs" and self.max_log_blocks is not None:
            params = request["params"][0]
            low, high = int(params.get("fromBlock", "0x0"), 16), int(params.get("toBlock", "0x0"), 16)
            if high - low + 1 > self.max_log_blocks:
                self.refused += 1
                return {
                    "jsonrpc": "2.0",
                    "id": request.get("id"),
                    "error": {"code": -32602, "message": self.message},
                }
        return session.post(self.target_url, json=request, timeout=30).json()

    _LIES = {"eth_getBalance": "0x0", "eth_getLogs": [], "eth_getTransactionReceipt": None}

    # methods whose last parameter is a block tag, and where it sits
    _BLOCK_PARAM = {
        "eth_call": 1,
        "eth_getBalance": 1,
        "eth_getTransactionCount": 1,
        "eth_getCode": 1,
        "eth_estimateGas": 1,
        "eth_getBlockByNumber": 0,
        "eth_getStorageAt": 2,
    }

    def _lagged(self, request, session):
        """A replica `lag` blocks behind: its head, its state and its receipts are older."""
        method, rid = request.get("method"), request.get("id")
        head = int(
            session.post(
                self.target_url,
                json={"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber", "params": []},
                timeout=30,
            ).json()["result"],
            16,
        )
        behind = max(0, head - self.lag)
        if method == "eth_blockNumber":
            return {"jsonrpc": "2.0", "id": rid, "result": hex(behind)}
        params = list(request.get("params") or [])
        if method in self._BLOCK_PARAM:
            index = self._BLOCK_PARAM[method]
            while len(params) <= index:
                params.append("latest")
            if params[index] in ("latest", "pending", "safe", "finalized"):
                params[index] = hex(behind)
            request = {**request, "params": params}
        elif method == "eth_getLogs":
            query = dict(params[0])
            if query.get("toBlock") in (None, "latest", "pending") or int(query["toBlock"], 16) > behind:
                query["toBlock"] = hex(behind)
            request = {**request, "params": [query]}
        answer = session.post(self.target_url, json=request, timeout=30).json()
        receipt = answer.get("result") if method == "eth_getTransactionReceipt" else None
        if receipt and int(receipt["blockNumber"], 16) > behind:
            answer = {"jsonrpc": "2.0", "id": rid, "result": None}
        return answer

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
