"""Provides `ResilientProvider`: a web3 HTTP provider over one or more JSON-RPC endpoints that
survives the way public nodes fail.

- Connection errors, timeouts, HTTP 429/5xx and JSON-RPC rate-limit answers are retried with
  jittered exponential backoff; a `Retry-After` header is honoured (capped).
- After `failover_after` failures in a row the next endpoint is tried; endpoints rotate.
- A request gives up after `patience` seconds with one `NodeUnreachable` line; the circuit then
  stays open for a growing cool-down (2 s doubling to 60 s), so callers fail fast instead of
  hammering a dead node, and the first request after the cool-down probes it.
- After every reconnect (an outage ended, or another endpoint took over), and every 5 minutes in
  case a node was swapped without an error, the chain id is read again; a different chain id opens the circuit for good (`WrongChain` on every request) until a
  node of the right chain answers.
- Every answer is checked against what the chain has already shown (`evidence.Evidence`: receipts,
  their logs, block hashes, heads, balances at a block). An endpoint whose answer contradicts it is
  dropped for `DROP_S` with one warning line and the request goes to the next endpoint: a fallback
  that lies (no receipts, no logs, zero balances) cannot keep agents on it. While a fallback
  serves, the first endpoint is probed every `PRIMARY_RETRY_S` and taken back as soon as it answers.
- `status` tells agents and the TUI where the connection stands (connected / retrying since /
  down since / wrong chain) and how many requests were made.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests
from eth_typing import URI
from web3.providers.rpc import HTTPProvider
from web3.types import RPCEndpoint

from ..errors import one_line
from .errors import NodeUnreachable, WrongChain
from .evidence import JUDGED, Evidence

log = logging.getLogger(__name__)

RETRY_STATUS = {429, 500, 502, 503, 504, 520, 521, 522, 523, 524}
# JSON-RPC error codes and texts public providers use for "slow down" (Infura -32005, Alchemy 429,
# QuickNode -32007, Ankr/BlastAPI texts); anything else is an answer and is returned as is.
RATE_LIMIT_CODES = {-32005, -32007, -32029, 429}
RATE_LIMIT_TEXTS = (
    "rate limit",
    "too many requests",
    "exceeded the quota",
    "request limit",
    "capacity exceeded",
    "throughput",
    "daily request count exceeded",
)
MAX_RETRY_AFTER = 60.0
MAX_COOLDOWN = 60.0
FIRST_CONNECT_PATIENCE = 3.0
DROP_S = 600.0  # how long an endpoint that contradicted the chain's evidence is left out
PRIMARY_RETRY_S = 15.0  # how often the first endpoint is probed while a fallback serves
PROBE_TIMEOUT_S = 2.0
# development-node methods that change state and are not safe to send twice (eth_sendRawTransaction
# is: a second copy of a signed transaction is refused as known)
NOT_REPEATABLE = ("anvil_", "evm_", "hardhat_", "debug_", "eth_sendTransaction")

CONNECTED, RETRYING, DOWN, WRONG_CHAIN = "connected", "retrying", "down", "wrong chain"


@dataclass(frozen=True)
class RpcStatus:
    """Where the connection stands. `since` is a wall-clock time (time.time())."""

    state: str
    endpoint: str
    since: float
    detail: str = ""
    requests: int = 0
    reconnects: int = 0

    def headline(self) -> str:
        """The state and since when, without the detail (for a narrow status line)."""
        if self.state in (CONNECTED, WRONG_CHAIN):
            return "connected" if self.state == CONNECTED else "stopped: wrong chain"
        return f"{self.state} since {max(0, int(time.time() - self.since))} s"

    def describe(self) -> str:
        age = max(0, int(time.time() - self.since))
        if self.state == CONNECTED:
            return f"connected to {self.endpoint}"
        if self.state == WRONG_CHAIN:
            return f"stopped: {self.detail}"
        return f"{self.state} since {age} s ({self.detail})" if self.detail else f"{self.state} since {age} s"


class _Retry(Exception):
    """One failed attempt worth retrying; `wait` is the server's Retry-After if it sent one."""

    def __init__(self, text: str, wait: float | None = None, maybe_delivered: bool = False) -> None:
        super().__init__(text)
        self.wait = wait
        self.maybe_delivered = maybe_delivered


class ResilientProvider(HTTPProvider):
    """HTTPProvider over `endpoints` (tried in order, failing over) with retries, a circuit and a
    chain-id check after every reconnect. Thread-safe: agents share one provider across threads."""

    def __init__(
        self,
        endpoints: list[str],
        timeout: float = 10.0,
        patience: float = 30.0,
        failover_after: int = 2,
        base_delay: float = 0.25,
        max_delay: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not endpoints:
            raise ValueError("at least one endpoint")
        # eth_chainId is asked by web3 before every call and send: it is answered from a cache
        # (the chain id is re-checked by this provider itself, after reconnects and every 5 minutes)
        super().__init__(
            endpoints[0],
            request_kwargs={"timeout": timeout},
            exception_retry_configuration=None,
            cache_allowed_requests=True,
            cacheable_requests={"eth_chainId"},
        )
        self.endpoints = list(endpoints)
        self.patience = patience
        self.failover_after = max(1, failover_after)
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._sleep = sleep
        self._lock = threading.Lock()
        self._index = 0
        self._state = CONNECTED
        self._since = time.time()
        self._detail = ""
        self._requests = 0
        self._reconnects = 0
        self._ever_connected = False
        self._last_good = endpoints[0]  # the endpoint that answered last
        self._cooldown = 0.0
        self._open_until = 0.0
        self.expected_chain_id: int | None = None
        # a node swapped behind a load balancer shows no error at all: the chain id is also
        # re-read every few minutes (288 requests a day at 300 s)
        self.recheck_every = 300.0
        self._checked_at = time.monotonic()
        self.listeners: list[Callable[[RpcStatus], None]] = []
        self.evidence = Evidence()
        self.dropped: dict[str, tuple[float, str]] = {}  # endpoint -> (left out until, why)
        self._left_primary = 0.0

    # ------------------------------------------------------------------ status
    @property
    def current(self) -> str:
        """The endpoint requests go to now."""
        return str(self.endpoint_uri)

    @property
    def status(self) -> RpcStatus:
        with self._lock:
            return RpcStatus(
                self._state, self.current, self._since, self._detail, self._requests, self._reconnects
            )

    @property
    def requests_made(self) -> int:
        return self._requests

    def _set_state(self, state: str, detail: str = "") -> None:
        changed = False
        with self._lock:
            if state != self._state:
                self._state, self._since, changed = state, time.time(), True
            self._detail = detail
        if changed:
            status = self.status
            log.info("rpc %s", status.describe())
            for listener in list(self.listeners):
                listener(status)

    def retry_now(self) -> None:
        """Let the next request probe the node at once (a user pressed retry)."""
        with self._lock:
            self._open_until = 0.0

    # ------------------------------------------------------------------ requests
    def _make_request(self, method: str, request_data: bytes) -> bytes:
        now = time.monotonic()
        if self._state == WRONG_CHAIN and now < self._open_until:
            raise WrongChain(self._detail)
        if self._state == DOWN and now < self._open_until:
            raise NodeUnreachable(
                f"the node is down ({self._detail}); next try in {self._open_until - now:.0f} s"
            )
        self._back_to_primary(now)
        probing = self._state in (DOWN, WRONG_CHAIN)
        # a node that never answered is most likely a wrong URL or not started: say so quickly
        patience = self.patience if self._ever_connected else min(self.patience, FIRST_CONNECT_PATIENCE)
        deadline = now + (0 if probing else patience)
        failures = 0
        while True:
            endpoint = self.current
            try:
                raw = self._attempt(endpoint, request_data)
            except _Retry as exc:
                if exc.maybe_delivered and method.startswith(NOT_REPEATABLE):
                    raise NodeUnreachable(
                        f"{method} at {endpoint}: {exc} (not repeated: it may have run)"
                    ) from None
                failures += 1
                if failures % self.failover_after == 0 or probing:
                    self._next_endpoint(endpoint)
                remaining = deadline - time.monotonic()
                if remaining <= 0 and (not probing or failures >= len(self.endpoints)):
                    self._open_circuit(str(exc))
                    raise NodeUnreachable(
                        f"cannot reach the node at {endpoint}: {exc}{self._left_out()}"
                    ) from None
                if remaining > 0:
                    self._set_state(RETRYING, str(exc))
                    delay = (
                        exc.wait
                        if exc.wait is not None
                        else random.uniform(0, min(self.max_delay, self.base_delay * 2 ** min(failures, 16)))
                    )
                    self._sleep(max(0.0, min(delay, remaining, MAX_RETRY_AFTER)))
                continue
            lie = self._contradiction(request_data, raw)
            if lie is not None:
                self._drop(endpoint, lie)
                continue
            due = time.monotonic() - self._checked_at > self.recheck_every
            if self._state != CONNECTED or endpoint != self._last_good or due:
                self._reconnected(endpoint, method)
            self._last_good = endpoint
            self._ever_connected = True
            return raw

    def _attempt(self, endpoint: str, request_data: bytes) -> bytes:
        with self._lock:
            self._requests += 1
        try:
            session = self._request_session_manager.cache_and_return_session(
                URI(endpoint), request_timeout=(self._request_kwargs or {}).get("timeout")
            )
            response = session.post(endpoint, data=request_data, **self.get_request_kwargs())
        except (requests.ConnectionError, requests.Timeout, OSError) as exc:
            # a refused connection never delivered the request; a timeout or a cut answer may have
            raise _Retry(one_line(exc), maybe_delivered=not _refused(exc)) from None
        with response:
            if response.status_code in RETRY_STATUS:
                raise _Retry(
                    f"HTTP {response.status_code}", _retry_after(response.headers.get("Retry-After"))
                )
            response.raise_for_status()
            raw = response.content
        if b'"error"' in raw and _rate_limited(raw):
            raise _Retry("rate limited", _retry_after(response.headers.get("Retry-After")))
        return raw

    def _next_endpoint(self, failed: str) -> None:
        with self._lock:
            if self.current != failed or len(self.endpoints) < 2:
                return
            now = time.monotonic()
            for step in range(1, len(self.endpoints) + 1):
                index = (self._index + step) % len(self.endpoints)
                if self.dropped.get(self.endpoints[index], (0.0, ""))[0] <= now:
                    break
            if self._index == 0 and index != 0:
                self._left_primary = now
            self._index = index
            self.endpoint_uri = URI(self.endpoints[index])

    # ------------------------------------------------------------------ lies
    def _contradiction(self, request_data: bytes, raw: bytes) -> str | None:
        """Why this answer contradicts the evidence (None: it does not; it is then learnt from)."""
        if len(self.endpoints) < 2:  # one endpoint: nothing to prefer, the evidence is not kept
            return None  # (and a whole market's logs, tens of MB, are not parsed twice)
        try:
            request = json.loads(request_data)
            if not isinstance(request, dict) or str(request.get("method", "")) not in JUDGED:
                return None
            answer = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(answer, dict) or "result" not in answer:
            return None
        method, params = str(request.get("method", "")), list(request.get("params") or [])
        lie = self.evidence.contradiction(method, params, answer["result"])
        if lie is None:
            self.evidence.observe(method, params, answer["result"])
        return lie

    def _drop(self, endpoint: str, why: str) -> None:
        """Leave out an endpoint that contradicted the chain; the request moves on, or fails in one
        line when no endpoint is left that has not contradicted it."""
        now = time.monotonic()
        with self._lock:
            self.dropped[endpoint] = (now + DROP_S, why)
            left = [e for e in self.endpoints if self.dropped.get(e, (0.0, ""))[0] <= now]
        detail = f"left out {endpoint} for {DROP_S / 60:.0f} min: it answered {why}"
        log.warning("rpc %s", detail)
        if not left:
            self._open_circuit(detail)
            raise NodeUnreachable(f"every endpoint contradicts what the chain has shown ({detail})")
        self._next_endpoint(endpoint)
        self._set_state(RETRYING, detail)

    def _left_out(self) -> str:
        now = time.monotonic()
        out = [f"{e} ({why})" for e, (until, why) in self.dropped.items() if until > now]
        return f"; left out for contradicting the chain: {', '.join(out)}" if out else ""

    def _back_to_primary(self, now: float) -> None:
        """While a fallback serves, take the first endpoint back once it answers (probed with a
        short timeout every PRIMARY_RETRY_S)."""
        if self._index == 0 or now - self._left_primary < PRIMARY_RETRY_S:
            return
        primary = self.endpoints[0]
        self._left_primary = now
        if self.dropped.get(primary, (0.0, ""))[0] > now:
            return
        try:
            answer = requests.post(
                primary,
                json={"jsonrpc": "2.0", "id": 0, "method": "eth_chainId", "params": []},
                timeout=PROBE_TIMEOUT_S,
            ).json()
            chain_id = int(answer["result"], 16)
        except (requests.RequestException, OSError, ValueError, KeyError, TypeError):
            return
        if self.expected_chain_id is not None and chain_id != self.expected_chain_id:
            return
        with self._lock:
            self._index = 0
            self.endpoint_uri = URI(primary)
        log.info("rpc back on %s", primary)

    def _open_circuit(self, detail: str) -> None:
        with self._lock:
            self._cooldown = min(MAX_COOLDOWN, max(2.0, self._cooldown * 2))
            self._open_until = time.monotonic() + self._cooldown
        self._set_state(DOWN, detail)

    def _reconnected(self, endpoint: str, method: str) -> None:
        """An endpoint answers after an outage, a failover or `recheck_every`: it must still be
        the same chain."""
        self._checked_at = time.monotonic()
        if self.expected_chain_id is not None and method != "eth_chainId":
            try:
                raw = self._attempt(endpoint, self.encode_rpc_request(RPCEndpoint("eth_chainId"), []))
                chain_id = int(json.loads(raw)["result"], 16)
            except (_Retry, ValueError, KeyError, TypeError) as exc:
                raise NodeUnreachable(f"cannot read the chain id from {endpoint}: {exc}") from None
            if chain_id != self.expected_chain_id:
                detail = (
                    f"the node at {endpoint} now reports chain id {chain_id}, not {self.expected_chain_id}; "
                    "nothing more is sent until it is the right chain again"
                )
                with self._lock:
                    self._open_until = time.monotonic() + 10.0
                self._set_state(WRONG_CHAIN, detail)
                raise WrongChain(detail)
        with self._lock:
            was = self._state
            self._cooldown = 0.0
            if was != CONNECTED:
                self._reconnects += 1
        self._set_state(CONNECTED)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, min(MAX_RETRY_AFTER, float(value)))
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _rate_limited(raw: bytes) -> bool:
    """Whether an answer says "slow down" (a range or result-size refusal is an answer, not this)."""
    from .events import RANGE_REFUSALS

    try:
        answer = json.loads(raw)
    except ValueError:
        return False
    for item in answer if isinstance(answer, list) else [answer]:
        error = item.get("error") if isinstance(item, dict) else None
        if isinstance(error, dict):
            text = str(error.get("message", "")).lower()
            if any(marker in text for marker in RANGE_REFUSALS) and "rate" not in text:
                continue
            if error.get("code") in RATE_LIMIT_CODES and not text.startswith("execution reverted"):
                return True
            if any(marker in text for marker in RATE_LIMIT_TEXTS):
                return True
    return False


def _refused(exc: BaseException) -> bool:
    text = str(exc)
    return "Connection refused" in text or "Failed to establish a new connection" in text
