"""Provides `PrivateTorNetwork`: a Tor network of its own on 127.0.0.1 for tests and benchmarks.

Five directory authorities (which are also the relays and HSDirs) with short voting intervals and
`TestingTorNetwork 1`, as the Tor Project's chutney builds them; clients and onion services get a
torrc that points at these authorities only. Nothing leaves loopback. Every tor process is owned
by this Python process and dies with it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..netutil import free_port
from .tor import TorError, TorProcess, launch, tor_binary

AUTHORITIES = 5

_COMMON = {
    "TestingTorNetwork": "1",
    "AssumeReachable": "1",
    "ExitRelay": "0",
    "ExitPolicy": "reject *:*",
    "SafeLogging": "0",
    "ShutdownWaitLength": "0",
    "Address": "127.0.0.1",
    "ConnLimit": "60",
    "Log": "notice stdout",
}


@dataclass
class _Authority:
    nickname: str
    data_dir: Path
    or_port: int
    dir_port: int
    control_port: int
    v3ident: str = ""
    fingerprint: str = ""
    process: TorProcess | None = None

    @property
    def dir_line(self) -> str:
        return (
            f"{self.nickname} orport={self.or_port} no-v2 v3ident={self.v3ident} "
            f"127.0.0.1:{self.dir_port} {self.fingerprint}"
        )


class PrivateTorNetwork:
    def __init__(self, base_dir: Path | None = None, authorities: int = AUTHORITIES) -> None:
        self._tmp = None if base_dir else tempfile.TemporaryDirectory(prefix="ichain-tornet-")
        self.base = Path(base_dir or self._tmp.name)  # type: ignore[union-attr]
        self.authorities = [
            _Authority(f"auth{i}", self.base / f"auth{i}", free_port(), free_port(), free_port())
            for i in range(authorities)
        ]
        self.clients: list[TorProcess] = []

    # -------------------------------------------------------------------- set-up
    def _make_keys(self, auth: _Authority) -> None:
        keys = auth.data_dir / "keys"
        keys.mkdir(parents=True, exist_ok=True, mode=0o700)
        auth.data_dir.chmod(0o700)
        gencert = shutil.which("tor-gencert")
        if not gencert:
            raise TorError("tor-gencert is missing (it ships with Debian's tor package)")
        subprocess.run(
            [
                gencert,
                "--create-identity-key",
                "-m",
                "12",
                "-a",
                f"127.0.0.1:{auth.dir_port}",
                "-i",
                str(keys / "authority_identity_key"),
                "-s",
                str(keys / "authority_signing_key"),
                "-c",
                str(keys / "authority_certificate"),
                "--passphrase-fd",
                "0",
            ],
            input=b"\n",
            check=True,
            capture_output=True,
            timeout=60,
        )
        cert = (keys / "authority_certificate").read_text()
        auth.v3ident = re.search(r"^fingerprint (\w+)", cert, re.M).group(1)  # type: ignore[union-attr]
        out = subprocess.run(
            [
                tor_binary(),
                "--list-fingerprint",
                "--DataDirectory",
                str(auth.data_dir),
                "--ORPort",
                str(auth.or_port),
                "--Nickname",
                auth.nickname,
                "--Address",
                "127.0.0.1",
                "--TestingTorNetwork",
                "1",
                "--DirAuthority",
                f"placeholder 127.0.0.1:1 {'0' * 40}",
                "--SocksPort",
                "0",
                "--Log",
                "err stderr",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        auth.fingerprint = out.stdout.strip().splitlines()[-1].split(" ", 1)[1].replace(" ", "")

    def dir_authority_lines(self) -> list[str]:
        return [a.dir_line for a in self.authorities]

    def start(self, timeout: float = 90.0) -> PrivateTorNetwork:
        for auth in self.authorities:
            self._make_keys(auth)
        for auth in self.authorities:
            config = {
                **_COMMON,
                "Nickname": auth.nickname,
                "DirAuthority": self.dir_authority_lines(),
                "SocksPort": "0",
                "ORPort": str(auth.or_port),
                "DirPort": str(auth.dir_port),
                "ControlPort": str(auth.control_port),
                "AuthoritativeDirectory": "1",
                "V3AuthoritativeDirectory": "1",
                "ContactInfo": "auth@ichain.test",
                "TestingV3AuthInitialVotingInterval": "5",
                "TestingV3AuthInitialVoteDelay": "2",
                "TestingV3AuthInitialDistDelay": "2",
                "V3AuthVotingInterval": "10",
                "V3AuthVoteDelay": "2",
                "V3AuthDistDelay": "2",
                "TestingDirAuthVoteHSDir": "*",
                "TestingDirAuthVoteGuard": "*",
                # every relay here is on loopback: vote them all Running instead of testing
                # reachability, which a loaded machine can fail for minutes (seen in CI)
                "AuthDirTestReachability": "0",
            }
            auth.process = launch(config, auth.data_dir, completion_percent=0, timeout=60)
        try:
            self.wait_usable(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_usable(self, timeout: float) -> None:
        """Until the consensus lists every node Running + HSDir and every authority serves every
        microdescriptor (clients stall at ~50% otherwise)."""
        deadline = time.monotonic() + timeout
        fingerprints = {a.fingerprint for a in self.authorities}
        tor = self.authorities[0].process.controller()  # type: ignore[union-attr]
        while time.monotonic() < deadline:
            flags = tor.consensus_flags()
            ready = fingerprints <= set(flags) and all({"Running", "HSDir"} <= flags[f] for f in fingerprints)
            if ready and all(self._serves_all_microdescs(a) for a in self.authorities):
                return
            time.sleep(0.5)
        raise TorError(f"private Tor network not usable within {timeout:.0f} s")

    def _serves_all_microdescs(self, auth: _Authority) -> bool:
        try:
            base = f"http://127.0.0.1:{auth.dir_port}"
            consensus = _http_get(f"{base}/tor/status-vote/current/consensus-microdesc")
            digests = re.findall(r"^m (\S+)$", consensus, re.M)
            if len(digests) < len(self.authorities):
                return False
            micro = _http_get(f"{base}/tor/micro/d/{'-'.join(digests)}")
            return micro.count("onion-key") >= len(digests)
        except OSError:
            return False

    # -------------------------------------------------------------------- clients
    def client_config(self, socks_port: int | None = None, control_port: int | None = None) -> dict[str, Any]:
        """torrc for a client or onion service of this network."""
        return {
            "TestingTorNetwork": "1",
            "DirAuthority": self.dir_authority_lines(),
            "UseEntryGuards": "0",
            "VanguardsLiteEnabled": "0",
            "LearnCircuitBuildTimeout": "0",
            "CircuitBuildTimeout": "5",
            "AssumeReachable": "1",
            "SafeLogging": "0",
            "ShutdownWaitLength": "0",
            "ClientUseIPv6": "0",
            "SocksPort": f"127.0.0.1:{socks_port or free_port()} IsolateSOCKSAuth",
            "ControlPort": str(control_port or free_port()),
            "Log": "notice stdout",
        }

    def start_client(self, name: str, timeout: float = 60.0) -> TorProcess:
        config = self.client_config()
        proc = launch(config, self.base / name, completion_percent=100, timeout=timeout)
        self.clients.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.clients:
            proc.stop()
        for auth in self.authorities:
            if auth.process:
                auth.process.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> PrivateTorNetwork:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _http_get(url: str) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=5) as response:
        body: bytes = response.read()
        return body.decode("utf-8", "replace")
