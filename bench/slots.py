"""Slots: a provider is a machine, not one thread (issue 22). On a real anvil with headless
provider processes (`ichain provide --headless`), the real Docker engine and direct transport:

- `validation_while_busy_s`: P1 (2 slots) runs a long task; another requester's task, executed by
  P2 with P1 as its named validator, gets P1's verdict this long after its result is committed
  (target <= 10).
- `second_task_while_busy_s`: meanwhile a quick task to P1 is submitted, run, paid and its result
  fetched this long after its submit (target <= 15).
- `slot_speedup`: 12 sleep-bound tasks (8 s, a quarter CPU each) to one provider with 4 slots
  against one with 1 slot, tasks per minute (target >= 3). Requesters wait for a free slot
  before they submit (a full provider's `createTask` reverts).
- `long_task_paid`: a task with a 2-hour limit and every default (execute window = limit + 900 s,
  review window 1 h, a drawn validator); the chain clock is moved forward 7,000 s while it runs
  (`evm_increaseTime`); it completes and is paid (target true).
- `hostile_peer_delay_s`: a requester whose chunk server answers P1's live-log POSTs one byte
  every 5 s, and a peer that keeps 64 connections to P1's chunk server open (dripping POST
  bodies, half-sent requests), against the same quick task and validation without them: how
  much later each ends (the larger; target <= 10).

Last line JSON with those keys (and the parts they come from).

    python bench/slots.py [--long 60]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

PAY = 2 * 10**16
FEE = PAY // 10


def task_folder(
    root: Path, sleep: float, cpus: float = 1.0, time_limit: int = 300, chatty: bool = False
) -> Path:
    """A task that sleeps `sleep` seconds (printing a line a second when `chatty`), writes a
    number, and whose check recomputes it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "task.py").write_text(
        textwrap.dedent(f"""
        import json, sys, time
        from pathlib import Path
        mode, out = sys.argv[1], Path(sys.argv[2])
        value = sum(i * i for i in range(1000))
        if mode == "execute":
            end = time.monotonic() + {sleep}
            while time.monotonic() < end:
                time.sleep(min(1.0, max(0.0, end - time.monotonic())))
                if {chatty}:
                    print("step", round(end - time.monotonic()), flush=True)
            (out / "answer.json").write_text(json.dumps({{"value": value}}))
        else:
            sys.exit(0 if json.loads((out / "answer.json").read_text())["value"] == value else 1)
    """)
    )
    (root / "ichain.toml").write_text(f"time_limit = {time_limit}\nmemory_mb = 256\ncpus = {cpus}\n")
    return root


from sandbox_helpers import executing_in


def wait(what: str, condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench/slots.py: timed out waiting for {what}")
        time.sleep(0.1)


def quick_and_validation(m, p1, p2, base: Path, tag: str) -> dict[str, float]:
    """Concurrently: a quick task to P1 (submit to result fetched), and a quick task to P2 with
    P1 as named validator (result committed to verdict). Seconds of each."""
    from ichain_tui.chain.types import TaskState, ValidatorMode

    out: dict[str, float] = {}

    def quick() -> None:
        requester = m.requester(6)
        started = time.monotonic()
        task_id = requester.submit(
            task_folder(base / f"quick-{tag}", 0), p1.account.address, PAY, mode=ValidatorMode.NONE
        )
        outcome = requester.follow(task_id, base / f"quick-{tag}-result", rating=5)
        assert outcome.ok, outcome
        out["quick_s"] = time.monotonic() - started

    def validation() -> None:
        requester = m.requester(7)
        task_id = requester.submit(
            task_folder(base / f"checked-{tag}", 0),
            p2.account.address,
            PAY,
            validator=p1.account.address,
            validator_fee=FEE,
        )
        committed = verdict = None
        deadline = time.monotonic() + 300
        while verdict is None and time.monotonic() < deadline:
            state = m.market.task(task_id).state
            now = time.monotonic()
            if committed is None and state is not TaskState.ASSIGNED:
                committed = now
            if state not in (TaskState.ASSIGNED, TaskState.VALIDATING):
                verdict = now
            time.sleep(0.1)
        assert committed is not None and verdict is not None, m.market.task(task_id)
        out["validation_s"] = verdict - committed
        assert requester.follow(task_id, base / f"checked-{tag}-result", rating=5).ok

    threads = [threading.Thread(target=f) for f in (quick, validation)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert set(out) == {"quick_s", "validation_s"}, out
    return out


def busy(m, p1, p2, base: Path, long_s: float) -> dict[str, float]:
    from ichain_tui.chain.types import TaskState, ValidatorMode

    long_id = m.requester(5).submit(
        task_folder(base / "long", long_s), p1.account.address, PAY, mode=ValidatorMode.NONE
    )
    wait("the long task to start", lambda: executing_in(p1.proc.pid) == 1, 120)
    measured = quick_and_validation(m, p1, p2, base, "busy")
    measured["long_task_still_running"] = m.market.task(long_id).state is TaskState.ASSIGNED
    wait("the long task to end", lambda: m.market.task(long_id).state.provider_paid, long_s + 120)
    return measured


def throughput(m, provider, base: Path, tasks: int, tag: str) -> float:
    """Tasks per minute for `tasks` sleep-bound tasks to `provider`, each requester waiting for a
    free slot before it submits."""
    from ichain_tui.chain.errors import ContractRevert
    from ichain_tui.chain.types import ValidatorMode

    address = provider.account.address
    done: list[float] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        requester = m.requester(10 + i)
        folder = task_folder(base / f"{tag}-{i}", 8, cpus=0.25)
        while True:
            if m.market.provider(address).free_slots == 0:
                time.sleep(0.2)
                continue
            try:
                task_id = requester.submit(folder, address, PAY, mode=ValidatorMode.NONE)
                break
            except ContractRevert as exc:
                if exc.name != "ProviderFull":
                    raise
        while not m.market.task(task_id).state.provider_paid:
            time.sleep(0.2)
        with lock:
            done.append(time.monotonic())

    started = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(tasks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(900)
    assert len(done) == tasks, f"{len(done)} of {tasks} ended"
    return tasks / ((max(done) - started) / 60)


def long_task(m, p1, base: Path) -> bool:
    requester = m.requester(8)
    from ichain_tui.config import Settings

    price = m.market.price_of(p1.account.address, 7200)  # what `ichain task submit` pays by default
    fee = min(max(Settings().validator_fee_wei, m.market.min_fee_for(price)), m.market.lock_for(price))
    folder = task_folder(base / "two-hours", 20, time_limit=7200)
    task_id = requester.submit(folder, p1.account.address, price, validator_fee=fee)
    task = m.market.task(task_id)
    assert task.time_limit == 7200 and task.deadline - m.chain.timestamp() >= 7200, task
    wait("the 2-hour task to start", lambda: executing_in(p1.proc.pid) == 1, 120)
    m.chain.advance_time(7000)
    outcome = requester.follow(task_id, base / "two-hours-result", rating=5)
    return bool(outcome.ok and m.market.task(task_id).state.provider_paid)


class DripProxy:
    """A requester's chunk server gone hostile: task files are passed through to the real one;
    a live-log POST is answered with a status line and then one header byte every 5 s."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.drips = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(65536)
                if not data:
                    return
                head += data
            if head.startswith(b"POST /log"):
                self.drips += 1
                try:
                    conn.sendall(b"HTTP/1.1 204 No Content\r\n")
                    for _ in range(120):
                        time.sleep(5)
                        conn.sendall(b"X")
                except OSError:
                    return
                return
            host, port = self.upstream.rsplit(":", 1)
            with socket.create_connection((host, int(port))) as up:
                up.sendall(head)

                def back() -> None:
                    try:
                        while data := up.recv(65536):
                            conn.sendall(data)
                    except OSError:
                        pass
                    try:
                        conn.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass

                t = threading.Thread(target=back, daemon=True)
                t.start()
                try:
                    while data := conn.recv(65536):
                        up.sendall(data)
                except OSError:
                    pass
                t.join(60)


class ConnectionHog:
    """A peer that keeps 64 connections to a chunk server open: half drip a log POST body a byte
    a second, half send half a request and wait; evicted ones are opened again."""

    def __init__(self, address: str, count: int = 64) -> None:
        self.host, port = address.rsplit(":", 1)
        self.port = int(port)
        self.count = count
        self.reopened = 0
        self.stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _open(self, i: int) -> socket.socket | None:
        try:
            conn = socket.create_connection((self.host, self.port), timeout=5)
            if i % 2:
                conn.sendall(
                    f"POST /log/{'ab' * 16} HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n".encode()
                )
            else:
                conn.sendall(b"GET /m/")
            return conn
        except OSError:
            return None

    def _run(self) -> None:
        conns: list[socket.socket | None] = [self._open(i) for i in range(self.count)]
        while not self.stop.wait(1.0):
            for i, conn in enumerate(conns):
                try:
                    if conn is None:
                        raise OSError
                    if i % 2:
                        conn.send(b"x")
                    else:
                        conn.settimeout(0.001)
                        if conn.recv(1) == b"":
                            raise OSError
                except TimeoutError:
                    pass
                except OSError:
                    if conn is not None:
                        conn.close()
                    conns[i] = self._open(i)
                    self.reopened += 1
        for conn in conns:
            if conn is not None:
                conn.close()


def hostile(m, p1, p2, base: Path, baseline: dict[str, float]) -> dict[str, float]:
    from ichain_tui.chain.types import ValidatorMode

    served = re.search(r"serving on (\S+)", p1.log())
    assert served, "P1's chunk server address is not in its log"
    h = m.requester(9)
    proxy = DripProxy(h.host.address)
    h.host.address = proxy.address  # the task's references (and the log address) name the proxy
    h_task = h.submit(
        task_folder(base / "chatty", 60, chatty=True), p1.account.address, PAY, mode=ValidatorMode.NONE
    )
    wait("the chatty task to start", lambda: executing_in(p1.proc.pid) == 1, 120)
    wait("a dripped log POST", lambda: proxy.drips > 0, 30)
    hog = ConnectionHog(served.group(1))
    time.sleep(3)  # every connection is taken, the first POSTs are dripping
    try:
        measured = quick_and_validation(m, p1, p2, base, "hostile")
    finally:
        hog.stop.set()
    delay = max(
        measured["quick_s"] - baseline["quick_s"], measured["validation_s"] - baseline["validation_s"]
    )
    h.follow(h_task, base / "chatty-result")  # it still ends (its log lines are lost to its own server)
    return {
        "hostile_peer_delay_s": round(max(0.0, delay), 1),
        "hostile_quick_s": round(measured["quick_s"], 1),
        "hostile_validation_s": round(measured["validation_s"], 1),
        "log_posts_dripped": proxy.drips,
        "hog_reconnects": hog.reopened,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", type=float, default=60.0, help="seconds the long task runs")
    parser.add_argument("--tasks", type=int, default=12, help="tasks of the speed-up part")
    args = parser.parse_args()
    os.environ["ICHAIN_HOME"] = tempfile.mkdtemp(prefix="ichain-slots-home-")
    from market_helpers import LocalMarket

    from ichain_tui.chain.devnet import Devnet

    base = Path(tempfile.mkdtemp(prefix="ichain-slots-"))
    figures: dict[str, object] = {}
    with Devnet(accounts=10 + args.tasks) as devnet:
        m = LocalMarket(devnet, base)
        try:
            p1, p2 = m.provider(1, slots=2).start(), m.provider(2, slots=2).start()
            m.wait_registered(2)
            print("market up; P1 runs a long task", flush=True)
            quiet = quick_and_validation(m, p1, p2, base, "quiet")
            loaded = busy(m, p1, p2, base, args.long)
            figures["validation_while_busy_s"] = round(loaded["validation_s"], 1)
            figures["second_task_while_busy_s"] = round(loaded["quick_s"], 1)
            figures["long_task_still_running"] = loaded["long_task_still_running"]
            print(f"busy: {loaded}", flush=True)

            figures.update(hostile(m, p1, p2, base, quiet))
            figures["quiet_quick_s"] = round(quiet["quick_s"], 1)
            figures["quiet_validation_s"] = round(quiet["validation_s"], 1)
            print(f"hostile: {figures}", flush=True)

            figures["long_task_paid"] = long_task(m, p1, base)
            print(f"long task paid: {figures['long_task_paid']}", flush=True)

            one, four = m.provider(3, slots=1).start(), m.provider(4, slots=4).start()
            m.wait_registered(4)
            per_minute_1 = throughput(m, one, base, args.tasks, "one")
            per_minute_4 = throughput(m, four, base, args.tasks, "four")
            figures["tasks_per_minute_1_slot"] = round(per_minute_1, 1)
            figures["tasks_per_minute_4_slots"] = round(per_minute_4, 1)
            figures["slot_speedup"] = round(per_minute_4 / per_minute_1, 2)
        finally:
            m.close()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
