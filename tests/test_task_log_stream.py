"""A running task's log reaches its requester while it runs: sealed batches pushed to the
requester's chunk server, which keeps only what opens with the provider–requester key and is
newer than what it has (a stranger's batch, a replay, an oversized or malformed body are refused
with a status and never reach the requester); end to end in the market, progress lines arrive
parsed, seconds before the result."""

from __future__ import annotations

import os
import textwrap
import time

import requests
from eth_account import Account

from ichain_tui.chain.types import ValidatorMode
from ichain_tui.transfer import crypto
from ichain_tui.transfer.logstream import LogInbox, LogPusher, log_context, log_tag, progress_of, seal_batch
from ichain_tui.transfer.server import ChunkServer

PROVIDER, REQUESTER, STRANGER = (Account.create() for _ in range(3))


def pub(account) -> bytes:
    from ichain_tui.chain.wallet import public_key

    return public_key(account)


def test_batches_open_only_with_the_pair_key_once_and_in_order():
    context = log_context(b"task-7")
    requester_key = crypto.pair_key(bytes(REQUESTER.key), pub(PROVIDER), context)
    provider_key = crypto.pair_key(bytes(PROVIDER.key), pub(REQUESTER), context)
    assert requester_key == provider_key  # the same key, no message exchanged
    stranger_key = crypto.pair_key(bytes(STRANGER.key), pub(REQUESTER), context)
    got: list[tuple[str, str]] = []
    inbox = LogInbox()
    server = ChunkServer().start()
    server.accept_logs(inbox)
    inbox.accept(requester_key, context, got.extend)
    url = f"http://{server.address}/log/{log_tag(context)}"
    try:
        pusher = LogPusher(server.address, provider_key, context).start()
        for i in range(500):
            pusher.add("stdout", f"line {i}")
        pusher.add("stderr", "ICHAIN_PROGRESS " + '{"epoch": 1, "loss": 0.5}')
        pusher.add("stdout", "\x1b]0;owned\x07\x1b[2Jclear")  # terminal control from a hostile task
        pusher.close()
        assert got[:3] == [("stdout", "line 0"), ("stdout", "line 1"), ("stdout", "line 2")]
        assert len(got) == 502 and progress_of(got[-2][1]) == {"epoch": 1, "loss": 0.5}
        assert got[-1] == ("stdout", "?]0;owned??[2Jclear")  # no control character reaches a screen

        assert (
            requests.post(url, data=seal_batch(stranger_key, context, 99, [("stdout", "x")])).status_code
            == 403
        )
        replay = seal_batch(provider_key, context, 0, [("stdout", "again")])
        assert requests.post(url, data=replay).status_code == 409  # not newer than what it has
        assert requests.post(url, data=os.urandom(70 * 1024)).status_code == 413
        assert requests.post(url, data=b"short").status_code == 403
        other = f"http://{server.address}/log/{log_tag(log_context(b'task-8'))}"
        assert requests.post(other, data=replay).status_code == 404  # no such log here
        assert len(got) == 502  # none of those reached the requester
    finally:
        server.stop()


def test_a_pusher_keeps_a_bounded_buffer_while_the_requester_is_away():
    from ichain_tui.transfer import logstream

    pusher = LogPusher("127.0.0.1:9", b"k" * 32, b"ctx")  # nothing listens on port 9
    for i in range(logstream.BUFFER_LINES + 50):
        pusher.add("stdout", f"line {i}")
    pusher._push()  # fails: the batch goes back, the oldest lines are the ones dropped
    assert len(pusher.lines) == logstream.BUFFER_LINES and pusher.dropped == 50
    assert pusher.lines[0] == ("stdout", "line 50") and pusher.failures == 1


def test_progress_reaches_the_requester_during_the_run(local_market, tmp_path):
    m = local_market
    m.provider(1).start()
    m.wait_registered(1)
    folder = tmp_path / "slow"
    folder.mkdir()
    (folder / "task.py").write_text(
        textwrap.dedent("""
        import json, sys, time
        from pathlib import Path
        mode, out = sys.argv[1], Path(sys.argv[2])
        if mode == "execute":
            for epoch in range(6):
                time.sleep(0.7)
                print("ICHAIN_PROGRESS " + json.dumps({"epoch": epoch, "loss": 1 / (epoch + 1), "t": time.time()}), flush=True)
                print(f"plain line {epoch}", flush=True)
            (out / "done.json").write_text("{}")
        else:
            sys.exit(0)
    """)
    )
    (folder / "ichain.toml").write_text("time_limit = 120\nmemory_mb = 256\n")
    events = []
    requester = m.requester(5, report=lambda e: events.append((time.time(), e)))
    provider = m.providers[0].account.address
    task_id = requester.submit(folder, provider, 10**16, mode=ValidatorMode.NONE)
    outcome = requester.follow(task_id, tmp_path / "result", rating=None)
    assert outcome.ok, outcome
    progress = [(at, e) for at, e in events if e.kind == "progress" and e.task_id == task_id]
    output = [e.message for _, e in events if e.kind == "output" and e.task_id == task_id]
    assert [e.data["progress"]["epoch"] for _, e in progress] == list(range(6))
    assert output == [f"plain line {i}" for i in range(6)]
    result_at = next(at for at, e in events if e.kind == "fetching" and e.data.get("what") == "result")
    assert progress[0][0] < result_at - 2  # the first epoch was seen seconds before the result
    latencies = [at - e.data["progress"]["t"] for at, e in progress]
    assert max(latencies) < 3, latencies
    print(
        f"progress latency: median {sorted(latencies)[len(latencies) // 2]:.2f} s, most {max(latencies):.2f} s"
    )
