"""Transfer throughput and memory.

(a) 1 GB over `direct` on loopback (fetch = download + verify + decrypt + unpack, in a receiver
    process) against a raw socket copy of the same sealed bytes to disk, in the same run;
(b) on a private Tor network: 64 MB with 1 circuit (one chunk) vs 8 isolated circuits (8 chunks),
    alternated and repeated (medians);
peak RSS of the sender (chunk server) and receiver processes;
(c) a hostile peer streaming an endless manifest (512 MiB if nobody stops reading): the peak RSS
    growth of the fetching process.

Last line JSON: direct_vs_raw (target >= 0.5), tor_parallel_speedup (target >= 4), peak_rss_mb (< 200),
hostile_manifest_rss_mb (target <= 20).

    python bench/transfer.py [--direct-mb 1024] [--tor-mb 64] [--skip-tor]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_folder(path: Path, megabytes: int) -> None:
    path.mkdir(parents=True)
    (path / "task.py").write_text("print('bench')\n")
    block = os.urandom(1 << 20)
    with open(path / "data.bin", "wb") as f:
        for i in range(megabytes):
            f.write(block[i % 7 :] + block[: i % 7])


# ---------------------------------------------------------------- roles run in child processes
def role_serve(sealed_dir: str, key_hex: str, port_file: str) -> None:
    from ichain_tui.transfer.server import ChunkServer, load_sealed

    sealed = load_sealed(Path(sealed_dir), bytes.fromhex(key_hex))
    server = ChunkServer().start()
    server.add(sealed)
    Path(port_file).write_text(str(server.port))
    sys.stdin.read()  # until the parent closes our stdin
    server.stop()
    print(json.dumps({"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def role_fetch(ref_hex: str, dest: str, work: str, socks: str) -> None:
    from ichain_tui.transfer.fetcher import Fetcher
    from ichain_tui.transfer.locator import decode_refs

    (ref,) = decode_refs(bytes.fromhex(ref_hex))
    t0 = time.perf_counter()
    Fetcher(socks=socks or None).fetch(ref, Path(dest), Path(work))
    seconds = time.perf_counter() - t0
    print(
        json.dumps({"seconds": seconds, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
    )


def role_hostile_fetch() -> None:
    """Fetch a manifest from a peer that streams one forever; print the peak RSS growth."""
    import threading

    from ichain_tui.transfer.errors import TransferError
    from ichain_tui.transfer.fetcher import Fetcher
    from ichain_tui.transfer.locator import FileRef

    listener = socket.create_server(("127.0.0.1", 0))

    def endless() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
            block = b"[" * 65536
            try:
                for _ in range(8192):  # 512 MiB
                    conn.sendall(block)
            except OSError:
                pass

    threading.Thread(target=endless, daemon=True).start()
    ref = FileRef("ab" * 32, b"k" * 32, "direct", f"127.0.0.1:{listener.getsockname()[1]}")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        Fetcher(attempts=1).fetch_manifest(ref)
        outcome = "accepted?!"
    except TransferError as exc:
        outcome = str(exc)
    growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(json.dumps({"rss_growth_mb": growth, "outcome": outcome}))


def bench_hostile_manifest() -> dict:
    proc = _child("hostile_fetch")
    out, _ = proc.communicate(timeout=300)
    return json.loads(out.strip().splitlines()[-1])


def role_raw_server(path: str, port_file: str) -> None:
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        Path(port_file).write_text(str(srv.getsockname()[1]))
        conn, _ = srv.accept()
        with conn, open(path, "rb") as f:
            conn.sendfile(f)


# ---------------------------------------------------------------- orchestration
def _child(*args: str, stdin=None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, __file__, "--role", *args], stdin=stdin, stdout=subprocess.PIPE, text=True
    )


def _wait_port(port_file: Path) -> int:
    for _ in range(600):
        if port_file.exists() and port_file.read_text():
            return int(port_file.read_text())
        time.sleep(0.05)
    raise RuntimeError("child did not start")


def serve(sealed, tmp: Path):
    port_file = tmp / f"port-{time.monotonic_ns()}"
    proc = _child("serve", str(sealed.directory), sealed.key.hex(), str(port_file), stdin=subprocess.PIPE)
    return proc, _wait_port(port_file)


def fetch(ref, tmp: Path, socks: str = "") -> dict:
    from ichain_tui.transfer.locator import encode_refs

    tag = time.monotonic_ns()
    proc = _child("fetch", encode_refs([ref]).hex(), str(tmp / f"dst-{tag}"), str(tmp / f"work-{tag}"), socks)
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError("fetch failed")
    return json.loads(out.strip().splitlines()[-1])


def stop(proc) -> dict:
    out, _ = proc.communicate(input="")
    return json.loads(out.strip().splitlines()[-1])


def raw_copy(path: Path, tmp: Path) -> float:
    port_file = tmp / "raw-port"
    proc = _child("raw", str(path), str(port_file))
    port = _wait_port(port_file)
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as conn, open(tmp / "raw.out", "wb") as out:
        while block := conn.recv(1 << 20):
            out.write(block)
    seconds = time.perf_counter() - t0
    proc.wait()
    os.unlink(tmp / "raw.out")
    return seconds


def bench_direct(megabytes: int, tmp: Path) -> dict:
    from ichain_tui.transfer.locator import FileRef
    from ichain_tui.transfer.manifest import seal_folder

    make_folder(tmp / "src", megabytes)
    sealed = seal_folder(tmp / "src", tmp / "sealed")
    concat = tmp / "sealed.concat"  # the same sealed bytes as one file, for the raw copy
    with open(concat, "wb") as out:
        for i in range(len(sealed.manifest.chunks)):
            with open(sealed.chunk_path(i), "rb") as f:
                while block := f.read(1 << 22):
                    out.write(block)
    raw_s = raw_copy(concat, tmp)
    os.unlink(concat)
    server, port = serve(sealed, tmp)
    got = fetch(FileRef(sealed.root, sealed.key, "direct", f"127.0.0.1:{port}"), tmp)
    sender = stop(server)
    size = sealed.manifest.sealed_size
    return {
        "bytes": size,
        "raw_s": raw_s,
        "direct_s": got["seconds"],
        "receiver_rss_mb": got["rss_mb"],
        "sender_rss_mb": sender["rss_mb"],
        "chunks": len(sealed.manifest.chunks),
    }


def bench_tor(megabytes: int, tmp: Path, repeats: int) -> dict:
    from ichain_tui.transfer.locator import FileRef
    from ichain_tui.transfer.manifest import seal_folder
    from ichain_tui.transfer.tornet import PrivateTorNetwork

    make_folder(tmp / "tsrc", megabytes)
    one = seal_folder(tmp / "tsrc", tmp / "one", chunks=1)
    eight = seal_folder(tmp / "tsrc", tmp / "eight", chunks=8)
    with PrivateTorNetwork() as net:
        service = net.start_client("service")
        client = net.start_client("client")
        socks = f"127.0.0.1:{client.socks_port}"
        times: dict[str, list[float]] = {"1": [], "8": []}
        servers = {}
        for name, sealed in (("1", one), ("8", eight)):
            server, port = serve(sealed, tmp)
            servers[name] = (
                server,
                FileRef(sealed.root, sealed.key, "tor", service.controller().create_onion(port)),
            )
        for _ in range(repeats):  # alternate: single-circuit speed varies a lot with the path tor picks
            for name in ("1", "8"):
                times[name].append(fetch(servers[name][1], tmp, socks)["seconds"])
        for server, _ in servers.values():
            stop(server)
    return {
        "tor_1_circuit_s": statistics.median(times["1"]),
        "tor_8_circuits_s": statistics.median(times["8"]),
        "tor_runs": {k: [round(t, 2) for t in v] for k, v in times.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--role", nargs="+")
    parser.add_argument("--direct-mb", type=int, default=1024)
    parser.add_argument("--tor-mb", type=int, default=64)
    parser.add_argument("--tor-repeats", type=int, default=3)
    parser.add_argument("--skip-tor", action="store_true")
    parser.add_argument("--only-hostile", action="store_true", help="just (c)")
    args = parser.parse_args()
    if args.role:
        {
            "serve": role_serve,
            "fetch": role_fetch,
            "raw": role_raw_server,
            "hostile_fetch": role_hostile_fetch,
        }[args.role[0]](*args.role[1:])
        return
    h = bench_hostile_manifest()
    print(
        f"hostile peer streaming an endless manifest: {h['outcome']}; peak RSS growth {h['rss_growth_mb']:.1f} MiB"
    )
    if args.only_hostile:
        print(json.dumps({"hostile_manifest_rss_mb": round(h["rss_growth_mb"], 1)}))
        return
    with tempfile.TemporaryDirectory(prefix="ichain-bench-") as tmp:
        d = bench_direct(args.direct_mb, Path(tmp))
        mb = d["bytes"] / 2**20
        print(
            f"direct  {mb:7.0f} MiB  raw socket copy {d['raw_s']:6.2f} s ({mb / d['raw_s']:6.0f} MiB/s)   "
            f"fetch (download+verify+decrypt+unpack, {d['chunks']} chunks) {d['direct_s']:6.2f} s "
            f"({mb / d['direct_s']:6.0f} MiB/s)"
        )
        print(f"peak RSS  sender {d['sender_rss_mb']:.0f} MiB   receiver {d['receiver_rss_mb']:.0f} MiB")
        figures = {
            "direct_vs_raw": round(d["raw_s"] / d["direct_s"], 3),
            "direct_mib_s": round(mb / d["direct_s"], 1),
            "raw_mib_s": round(mb / d["raw_s"], 1),
            "peak_rss_mb": round(max(d["sender_rss_mb"], d["receiver_rss_mb"]), 1),
            "hostile_manifest_rss_mb": round(h["rss_growth_mb"], 1),
        }
        if not args.skip_tor:
            t = bench_tor(args.tor_mb, Path(tmp), args.tor_repeats)
            print(
                f"tor     {args.tor_mb} MiB  1 circuit {t['tor_1_circuit_s']:6.2f} s   "
                f"8 isolated circuits {t['tor_8_circuits_s']:6.2f} s   (medians; runs {t['tor_runs']})"
            )
            figures["tor_parallel_speedup"] = round(t["tor_1_circuit_s"] / t["tor_8_circuits_s"], 2)
            figures["tor_1_circuit_s"] = round(t["tor_1_circuit_s"], 2)
            figures["tor_8_circuits_s"] = round(t["tor_8_circuits_s"], 2)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
