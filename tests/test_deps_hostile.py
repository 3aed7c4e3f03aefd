"""A hostile requester's requirements: options, direct references, other indexes and oversized
wheels. Each line is refused before pip runs, or pip (as nobody, wheels only, through the capped
proxy) stops before writing more than the provider's cap; no package code ever runs on the host
(a real sdist whose PEP 517 backend would write a marker file, served from a real index here)."""

from __future__ import annotations

import functools
import hashlib
import io
import os
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ichain_tui.sandbox.deps import DepsError, DepsLimits, download, requirements_of
from ichain_tui.sandbox.download_cap import CappedProxy
from ichain_tui.sandbox.requirements import RequirementRefused, canonical_text, parse_requirements

MiB = 1024 * 1024
HOSTILE_LINES = [
    "--hash=sha256:00 --no-binary :all:\nevilpkg==1.0",
    f"--hash=sha256:{'0' * 64} --no-binary :all:\nevilpkg==1.0",
    "evilpkg==1.0 --no-binary :all:",
    "evilpkg @ http://127.0.0.1:9/evilpkg-1.0.tar.gz",
    "evilpkg @ file:///tmp/evilpkg-1.0.tar.gz",
    "evilpkg @ git+file:///tmp/evilpkg",
    "--extra-index-url http://127.0.0.1:9/simple\nsix==1.17.0",
    "--index-url http://127.0.0.1:9/simple\nsix==1.17.0",
    "-i http://127.0.0.1:9/simple\nsix==1.17.0",
    "six==1.17.0 --index-url http://127.0.0.1:9/simple",
    "-r other.txt",
    "-c constraints.txt",
    "-e .",
    "./evilpkg",
    "/tmp/evilpkg-1.0.tar.gz",
    "evilpkg-1.0-py3-none-any.whl",
    "http://127.0.0.1:9/evilpkg-1.0-py3-none-any.whl",
    "six",
    "six>=1.0",
    "six==1.*",
    "six===1.17.0",
    "six==1.17.0\nsix==1.16.0",
    "six==1.17.0 --hash=md5:0123",
    "six==1.17.0\n --trusted-host 127.0.0.1",
]


@pytest.mark.parametrize("text", HOSTILE_LINES)
def test_every_line_that_is_not_an_exact_pin_is_refused_with_one_line(text, tmp_path):
    with pytest.raises(RequirementRefused) as refused:
        parse_requirements(text)
    assert "\n" not in str(refused.value) and str(refused.value).startswith("line ")
    (tmp_path / "requirements.txt").write_text(text + "\n")
    with pytest.raises(DepsError, match=r"^requirements\.txt: "):
        requirements_of(tmp_path)


def test_pins_with_hashes_extras_markers_and_continuations_become_canonical_lines():
    digest = "AB" * 32
    text = (
        "# pinned by pip-compile\n"
        "Six==1.17.0 \\\n    --hash=sha256:" + digest + "  # trailing comment\n"
        "requests[Socks]==2.32.3 ; python_version >= '3.8' --hash=sha256:" + "cd" * 32 + "\n\n"
    )
    pins = parse_requirements(text)
    assert canonical_text(pins) == (
        f"six==1.17.0 --hash=sha256:{digest.lower()}\n"
        f'requests[socks]==2.32.3 ; python_version >= "3.8" --hash=sha256:{"cd" * 32}\n'
    )


# ---------------------------------------------------------------------------- a real hostile index
BACKEND = """
import os
def _mark():
    with open({marker!r}, "a") as f:
        f.write(str(os.getuid()) + "\\n")
def get_requires_for_build_wheel(config_settings=None):
    _mark(); return []
def prepare_metadata_for_build_wheel(directory, config_settings=None):
    _mark(); raise SystemExit(1)
def build_wheel(directory, config_settings=None, metadata_directory=None):
    _mark(); raise SystemExit(1)
def build_sdist(directory, config_settings=None):
    _mark(); raise SystemExit(1)
"""


def _sdist(folder: Path, marker: Path) -> Path:
    """evilpkg-1.0.tar.gz: a real sdist whose in-tree build backend writes `marker` when run."""
    path = folder / "evilpkg-1.0.tar.gz"
    files = {
        "evilpkg-1.0/pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n',
        "evilpkg-1.0/backend.py": BACKEND.format(marker=str(marker)),
        "evilpkg-1.0/PKG-INFO": "Metadata-Version: 2.1\nName: evilpkg\nVersion: 1.0\n",
    }
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _wheel(folder: Path, name: str, version: str, payload_bytes: int) -> Path:
    """A real wheel carrying `payload_bytes` of incompressible data (stored, not deflated)."""
    path = folder / f"{name}-{version}-py3-none-any.whl"
    dist = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{name}/__init__.py", f"__version__ = {version!r}\n")
        if payload_bytes:
            z.writestr(f"{name}/blob.bin", os.urandom(payload_bytes))
        z.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        z.writestr(
            f"{dist}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        z.writestr(f"{dist}/RECORD", "")
    return path


def _index(root: Path, files: list[Path]) -> Path:
    """A PEP 503 simple index under `root` listing `files` by project."""
    simple = root / "simple"
    for file in files:
        project = file.name.split("-")[0]
        page = simple / project
        page.mkdir(parents=True, exist_ok=True)
        (page / file.name).write_bytes(file.read_bytes())
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        (page / "index.html").write_text(f'<a href="{file.name}#sha256={digest}">{file.name}</a>\n')
    return simple


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


class _NoLength(_Quiet):
    """Serves files without Content-Length (the body ends when the connection closes)."""

    protocol_version = "HTTP/1.0"

    def send_header(self, keyword, value):
        if keyword.lower() != "content-length":
            super().send_header(keyword, value)


def _serve(directory: Path, handler: type[BaseHTTPRequestHandler] = _Quiet):
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/simple/"


@pytest.fixture
def hostile_index(tmp_path):
    marker = tmp_path / "marker"
    built = tmp_path / "built"
    built.mkdir()
    files = [_sdist(built, marker), _wheel(built, "six", "99.0", 0), _wheel(built, "bigpkg", "1.0", 96 * MiB)]
    _index(tmp_path / "index", files)
    server, url = _serve(tmp_path / "index")
    yield url, marker
    server.shutdown()
    server.server_close()


def _download(tmp_path: Path, requirements: str, index_url: str, max_mb: int = 64) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    dest = work / "wheels"
    dest.mkdir()
    (work / "requirements.txt").write_text(requirements)
    download(work / "requirements.txt", dest, index_url, DepsLimits(time_s=120, max_mb=max_mb))
    return dest


def test_an_sdist_only_package_is_never_built_so_its_backend_never_runs(hostile_index, tmp_path):
    url, marker = hostile_index
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "requirements.txt").write_text("evilpkg==1.0\n")
    canonical = requirements_of(tmp_path / "t")
    with pytest.raises(DepsError, match="pip could not get the requirements"):
        _download(tmp_path, canonical or "", url)
    assert not marker.exists(), "the sdist's build backend ran on the host"


def test_the_attack_lines_are_refused_before_pip_and_nothing_runs(hostile_index, tmp_path):
    url, marker = hostile_index
    for i, text in enumerate(HOSTILE_LINES[:6]):
        folder = tmp_path / f"t{i}"
        folder.mkdir()
        (folder / "requirements.txt").write_text(text.replace("127.0.0.1:9", url.split("/")[2]) + "\n")
        with pytest.raises(DepsError):
            requirements_of(folder)
    assert not marker.exists()


def test_pip_runs_unprivileged_and_gets_wheels_only_from_the_one_index(hostile_index, sandbox, tmp_path):
    url, _ = hostile_index
    dest = _download(tmp_path, "six==99.0\n", url)
    wheels = list(dest.iterdir())
    assert [w.name for w in wheels] == ["six-99.0-py3-none-any.whl"]
    if os.geteuid() == 0:
        assert wheels[0].stat().st_uid == 65534, "pip ran as root"


def test_a_wheel_larger_than_the_cap_is_refused_by_its_size_before_it_is_written(hostile_index, tmp_path):
    url, _ = hostile_index
    with pytest.raises(DepsError, match=r"more than this provider's 8 MB \(bigpkg-1\.0-py3-none-any\.whl\)"):
        _download(tmp_path, "bigpkg==1.0\n", url, max_mb=8)
    written = sum(f.stat().st_size for f in (tmp_path / "work").rglob("*") if f.is_file())
    assert written < 1 * MiB, f"{written} bytes written for a refused download"


def test_a_wheel_without_a_length_is_stopped_by_the_running_count(tmp_path):
    built = tmp_path / "built"
    built.mkdir()
    _index(tmp_path / "index", [_wheel(built, "bigpkg", "1.0", 96 * MiB)])
    server, url = _serve(tmp_path / "index", _NoLength)
    try:
        with pytest.raises(DepsError, match=r"more than this provider's 8 MB"):
            _download(tmp_path, "bigpkg==1.0\n", url, max_mb=8)
    finally:
        server.shutdown()
        server.server_close()
    written = sum(f.stat().st_size for f in (tmp_path / "work").rglob("*") if f.is_file())
    assert written <= 8 * MiB + 1 * MiB, f"{written >> 20} MiB written under an 8 MiB cap"


def test_the_proxy_counts_tunnelled_bytes_too(tmp_path):
    """An HTTPS index is reached through CONNECT: every tunnelled byte counts against the cap."""
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            for _ in range(64):
                conn.sendall(b"x" * 65536)
        except OSError:
            pass
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    with CappedProxy(1 * MiB) as proxy:
        client = socket.create_connection(("127.0.0.1", int(proxy.url.rsplit(":", 1)[1])))
        client.sendall(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode())
        received = 0
        client.settimeout(10)
        while True:
            chunk = client.recv(65536)
            if not chunk:
                break
            received += len(chunk)
        client.close()
        assert proxy.exceeded
        assert received <= 1 * MiB + 128 * 1024
    listener.close()
