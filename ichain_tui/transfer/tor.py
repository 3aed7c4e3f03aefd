"""Provides everything that talks to tor (through stem): launching tor processes owned by this
process, ephemeral v3 onion services published with a timeout and re-created when stuck, and the
consensus checks the private test network needs. No other module imports stem.
"""

from __future__ import annotations

import queue
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .. import fixes
from .errors import TransferError


class TorError(TransferError):
    title = "Tor error"


def _await_upload(events: queue.Queue[Any], service_id: str, timeout: float) -> bool:
    """True once one HSDir confirmed our descriptor (UPLOADED after an UPLOAD of this service)."""
    from stem import HSDescAction

    deadline = time.monotonic() + timeout
    uploading: set[str] = set()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            event = events.get(timeout=remaining)
        except queue.Empty:
            return False
        if event.action == HSDescAction.UPLOAD and event.address == service_id:
            uploading.add(event.directory_fingerprint)
        elif event.action == HSDescAction.UPLOADED and (
            event.address == service_id or event.directory_fingerprint in uploading
        ):
            return True


def tor_binary() -> str:
    exe = shutil.which("tor")
    if not exe:
        raise TorError(f"tor is not installed: {fixes.tor()}")
    return exe


@dataclass
class TorProcess:
    """A tor process launched by us; it exits when we do (stem take_ownership)."""

    process: subprocess.Popen[bytes]
    data_dir: Path
    control_port: int | None
    socks_port: int | None
    _tor: Tor | None = None

    def stop(self) -> None:
        if self._tor is not None:
            self._tor.close()
            self._tor = None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def controller(self) -> Tor:
        """The one control connection to this tor. stem hands it ownership of the process
        (TAKEOWNERSHIP), so it stays open for the tor's whole life and `stop()` closes it."""
        if self.control_port is None:
            raise TorError("this tor has no control port")
        if self._tor is None:
            self._tor = Tor.attach(self.control_port)
        return self._tor


def launch(
    config: dict[str, Any],
    data_dir: Path,
    completion_percent: int = 0,
    timeout: float = 90,
    on_line: Callable[[str], None] | None = None,
) -> TorProcess:
    """Start tor with `config` (torrc keys -> value or list of values)."""
    import stem.process

    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    data_dir.chmod(0o700)
    config = {"DataDirectory": str(data_dir), **config}
    try:
        proc = stem.process.launch_tor_with_config(
            config={k: v for k, v in config.items()},
            tor_cmd=tor_binary(),
            completion_percent=completion_percent,
            init_msg_handler=on_line,
            timeout=timeout,
            take_ownership=True,
            close_output=False,
        )
    except OSError as exc:
        raise TorError(f"tor failed to start: {str(exc).splitlines()[0][:200]}") from None
    # keep draining tor's output into a log file: a closed or full pipe would stall or kill it
    log_path = data_dir / "tor.log"
    for stream in (proc.stdout, proc.stderr):
        threading.Thread(target=_drain, args=(stream, log_path), daemon=True, name="tor-log").start()
    control = int(config["ControlPort"]) if str(config.get("ControlPort", "")).isdigit() else None
    socks = config.get("SocksPort")
    socks_port = int(str(socks).split()[0].split(":")[-1]) if socks and str(socks) != "0" else None
    return TorProcess(proc, data_dir, control, socks_port)


def _drain(stream: IO[bytes], log_path: Path) -> None:
    with open(log_path, "ab") as log:
        for line in iter(stream.readline, b""):
            log.write(line)
            log.flush()
    stream.close()


class Tor:
    """A control connection to a running tor."""

    def __init__(self, controller: Any) -> None:
        self.controller = controller  # a stem Controller
        self.onion_keys: dict[str, str] = {}  # service id -> "TYPE:key" of the onions created here

    @classmethod
    def attach(cls, control_port: int, password: str | None = None) -> Tor:
        from stem import SocketError
        from stem.control import Controller

        try:
            controller = Controller.from_port(address="127.0.0.1", port=control_port)
            controller.authenticate(password=password)
        except SocketError as exc:
            raise TorError(f"cannot reach tor's control port {control_port}: {exc}") from None
        return cls(controller)

    def close(self) -> None:
        self.controller.close()

    def bootstrap_percent(self) -> int:
        status = self.controller.get_info("status/bootstrap-phase", "")
        match = re.search(r"PROGRESS=(\d+)", status)
        return int(match.group(1)) if match else 0

    def wait_bootstrapped(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.bootstrap_percent() >= 100:
                return
            time.sleep(0.2)
        raise TorError(f"tor did not bootstrap within {timeout:.0f} s (at {self.bootstrap_percent()}%)")

    def consensus_flags(self) -> dict[str, set[str]]:
        """Fingerprint -> flags of every router in the current consensus (empty when none)."""
        from stem import ControllerError

        try:
            entries = self.controller.get_network_statuses()
            return {e.fingerprint: set(e.flags) for e in entries}
        except (ControllerError, ValueError):
            return {}

    def create_onion(
        self,
        target_port: int,
        virtual_port: int = 80,
        timeout: float = 30.0,
        attempts: int = 3,
        target_host: str = "127.0.0.1",
        key: str | None = None,
    ) -> str:
        """An ephemeral v3 onion service in front of `target_host:target_port`, published to the
        HSDirs. A publication not confirmed within `timeout` is removed and created anew (tor can
        sit on an upload forever). `key` ("ED25519-V3:<blob>", from `onion_keys`) brings back the
        same address after a restart. Returns "<id>.onion:<virtual_port>"."""
        from stem import ControllerError
        from stem.control import EventType

        last = "no attempt"
        for _ in range(attempts):
            events: queue.Queue[Any] = queue.Queue()
            self.controller.add_event_listener(events.put, EventType.HS_DESC)
            try:
                key_type, key_content = key.split(":", 1) if key else ("NEW", "ED25519-V3")
                response = self.controller.create_ephemeral_hidden_service(
                    {virtual_port: f"{target_host}:{target_port}"},
                    key_type=key_type,
                    key_content=key_content,
                    await_publication=False,
                    detached=False,
                )
                service_id = response.service_id
                if response.private_key:
                    key = f"{response.private_key_type}:{response.private_key}"
                self.onion_keys[service_id] = key or ""
                if _await_upload(events, service_id, timeout):
                    return f"{service_id}.onion:{virtual_port}"
                last = f"descriptor not published within {timeout:.0f} s"
                self.controller.remove_ephemeral_hidden_service(service_id)
            except ControllerError as exc:
                last = str(exc)
            finally:
                self.controller.remove_event_listener(events.put)
        raise TorError(f"onion service could not be published: {last}")

    def remove_onion(self, address: str) -> None:
        self.controller.remove_ephemeral_hidden_service(address.split(".onion")[0])
