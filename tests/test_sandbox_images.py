"""Task images pinned by digest: `ichain.toml` may name a registry image only as
`name@sha256:…` (tags are refused before anything is paid); a provider allows it by repository
or exact reference; the sandbox pulls it by digest from a real registry (Debian's docker-registry,
started here on 127.0.0.1) and the engine checks what arrives against the digest."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import time

import pytest

from ichain_tui.netutil import free_port
from ichain_tui.sandbox import policy as policies
from ichain_tui.sandbox.engine import SandboxError
from ichain_tui.sandbox.image import ensure_pinned
from ichain_tui.sandbox.taskspec import TaskSpecError, load_task


@pytest.fixture
def registry(tmp_path):
    binary = shutil.which("docker-registry")
    assert binary, "docker-registry is installed by ./install.sh --dev"
    port = free_port()
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {tmp_path / 'storage'}\nhttp:\n  addr: 127.0.0.1:{port}\n"
    )
    proc = subprocess.Popen(
        [binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    import requests

    deadline = time.monotonic() + 15
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{port}/v2/", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, "the registry did not start"
        time.sleep(0.1)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def tiny_image_tar() -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        body = os.urandom(64)  # a new image every run: nothing cached anywhere
        info = tarfile.TarInfo("marker")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    return data.getvalue()


def test_a_task_image_is_pulled_by_digest_from_a_registry(sandbox, registry):
    dc = sandbox.dc
    repo = f"{registry}/ichain-test-tiny"
    dc.api.import_image_from_data(tiny_image_tar(), repository=repo, tag="v1")
    dc.images.push(repo, tag="v1")
    pushed = dc.images.get(f"{repo}:v1")
    pinned = next(d for d in pushed.attrs["RepoDigests"] if d.startswith(repo + "@sha256:"))
    dc.images.remove(pushed.id, force=True)  # gone locally: only the registry has it now
    with pytest.raises(Exception):
        dc.images.get(pinned)
    try:
        assert ensure_pinned(dc, pinned) == pinned
        assert pinned in dc.images.get(pinned).attrs["RepoDigests"]  # pulled, the digest checked

        wrong = repo + "@sha256:" + "0" * 64
        with pytest.raises(SandboxError, match="cannot pull image"):
            ensure_pinned(dc, wrong)
        with pytest.raises(SandboxError, match="not pinned"):
            ensure_pinned(dc, f"{repo}:v1")
    finally:
        try:
            dc.images.remove(pinned, force=True)
        except Exception:
            pass


def test_tags_are_refused_in_ichain_toml_and_digests_allowed_only_by_exact_reference(tmp_path):
    folder = tmp_path / "task"
    folder.mkdir()
    (folder / "task.py").write_text("print(1)\n")
    (folder / "ichain.toml").write_text('image = "busybox:latest"\n')
    with pytest.raises(TaskSpecError, match="not pinned: name a registry image by digest"):
        load_task(folder)
    pinned = "127.0.0.1:5000/ml@sha256:" + "ab" * 32
    (folder / "ichain.toml").write_text(f'image = "{pinned}"\n')
    spec = load_task(folder)
    assert spec.image == pinned
    by_repository = policies.for_host(tmp_path, allowed_images=("127.0.0.1:5000/ml",))
    assert "this provider allows only" in by_repository.refusal(spec)
    # the default policy allows the runtime image by its local name, not any digest of that name
    runtime_digest = "ichain-runtime:bookworm@sha256:" + "cd" * 32
    (folder / "ichain.toml").write_text(f'image = "{runtime_digest}"\n')
    assert "this provider allows only" in policies.for_host(tmp_path).refusal(load_task(folder))
    exact = policies.for_host(tmp_path, allowed_images=(pinned,))
    assert exact.refusal(spec) is None
    other = policies.for_host(tmp_path, allowed_images=("127.0.0.1:5000/other",))
    assert "this provider allows only" in other.refusal(spec)
