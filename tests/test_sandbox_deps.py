"""Tasks bring their own Python dependencies: requirements.txt is downloaded as wheels from the
provider's package index only (a real PEP 503 index served here on 127.0.0.1 from the machine's
package mirror), installed without network into an image derived from the runtime image, named by
the hash of the runtime image and the requirements and reused by the next task; a package that
cannot be had is one line with pip's words, before anything runs."""

from __future__ import annotations

import functools
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from docker.errors import ImageNotFound

from ichain_tui.sandbox.deps import DepsError, deps_tag
from ichain_tui.sandbox.runner import Sandbox
from ichain_tui.sandbox.taskspec import load_task

MIRROR = Path("/opt/pypi")


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def package_index():
    assert (MIRROR / "simple" / "six").is_dir(), "the machine's package mirror (install.sh installs from it)"
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(MIRROR)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple/"
    server.shutdown()
    server.server_close()


def _remove(dc, tag: str) -> None:
    try:
        dc.images.remove(tag, force=True)
    except ImageNotFound:
        pass


def deps_task(root: Path, requirements: str) -> Path:
    root.mkdir(parents=True)
    (root / "task.py").write_text(
        "import json, sys\nfrom pathlib import Path\nmode, out = sys.argv[1], Path(sys.argv[2])\n"
        "import six, idna\n"
        "if mode == 'execute':\n"
        "    (out / 'versions.json').write_text(json.dumps({'six': six.__version__, 'idna': idna.__version__}))\n"
    )
    (root / "requirements.txt").write_text(requirements)
    (root / "ichain.toml").write_text("time_limit = 60\nmemory_mb = 256\n")
    return root


def test_requirements_are_installed_once_and_the_task_imports_them(sandbox, package_index, tmp_path):
    box = Sandbox(sandbox.dc, sandbox.image, package_index=package_index, kernel_quota=sandbox.kernel_quota)
    requirements = "six==1.17.0\nidna==3.20\n"
    spec = load_task(deps_task(tmp_path / "task", requirements))
    tag = deps_tag(sandbox.dc.images.get(sandbox.image).id, requirements)
    _remove(sandbox.dc, tag)  # a new image every run
    try:
        started = time.monotonic()
        assert box.image_for(spec) == tag
        built_s = time.monotonic() - started
        started = time.monotonic()
        assert box.image_for(spec) == tag  # the same requirements: the same image, not built again
        cached_s = time.monotonic() - started
        print(f"deps image built in {built_s:.1f} s, reused in {cached_s:.2f} s")
        assert cached_s < 1.0
        run = box.execute(spec, tmp_path / "out")
        assert run.ok, run.reason
        assert (tmp_path / "out" / "versions.json").read_text() == '{"six": "1.17.0", "idna": "3.20"}'
    finally:
        sandbox.dc.images.remove(tag, force=True)


def test_a_package_that_cannot_be_had_is_one_line_with_pips_words(sandbox, package_index, tmp_path):
    box = Sandbox(sandbox.dc, sandbox.image, package_index=package_index, kernel_quota=sandbox.kernel_quota)
    spec = load_task(deps_task(tmp_path / "task", "no-such-package-ichain==1.0\n"))
    with pytest.raises(DepsError, match=r"pip could not get the requirements: .*no-such-package-ichain"):
        box.execute(spec, tmp_path / "out")


def test_no_index_or_pip_options_are_refused(sandbox, package_index, tmp_path):
    nowhere = Sandbox(sandbox.dc, sandbox.image, kernel_quota=sandbox.kernel_quota)
    spec = load_task(deps_task(tmp_path / "a", "six==1.17.0\n"))
    with pytest.raises(DepsError, match="names no package_index"):
        nowhere.image_for(spec)
    box = Sandbox(sandbox.dc, sandbox.image, package_index=package_index, kernel_quota=sandbox.kernel_quota)
    spec = load_task(deps_task(tmp_path / "b", "--index-url http://198.51.100.7/simple\nsix\n"))
    with pytest.raises(DepsError, match="options are not accepted"):
        box.image_for(spec)


def test_packages_in_ichain_toml_are_requirements_too(sandbox, package_index, tmp_path):
    box = Sandbox(sandbox.dc, sandbox.image, package_index=package_index, kernel_quota=sandbox.kernel_quota)
    folder = tmp_path / "task"
    folder.mkdir()
    (folder / "task.py").write_text("import six\n")
    marker = f"# {time.time_ns()}"
    (folder / "ichain.toml").write_text(f'packages = ["six==1.17.0", "{marker}"]\n')
    spec = load_task(folder)
    assert spec.packages == ("six==1.17.0", marker)
    # comments do not count: the canonical pins name the image, as for a requirements.txt
    tag = deps_tag(sandbox.dc.images.get(sandbox.image).id, "six==1.17.0\n")
    try:
        assert box.image_for(spec) == tag  # the same text as a requirements.txt: the same image
    finally:
        sandbox.dc.images.remove(tag, force=True)
    (folder / "ichain.toml").write_text('packages = ["--extra-index-url http://198.51.100.7/simple"]\n')
    with pytest.raises(DepsError, match="options are not accepted"):
        box.image_for(load_task(folder))


def test_the_providers_caps_on_the_build_hold(sandbox, package_index, tmp_path):
    from ichain_tui.sandbox.deps import DepsLimits

    spec = load_task(deps_task(tmp_path / "task", "six==1.17.0\n"))
    _remove(sandbox.dc, deps_tag(sandbox.dc.images.get(sandbox.image).id, "six==1.17.0\n"))
    for limits, said in (
        (DepsLimits(time_s=0.05), "took longer than 0 s"),
        (DepsLimits(max_mb=0), "more than this provider's 0 MB"),
    ):
        box = Sandbox(
            sandbox.dc,
            sandbox.image,
            package_index=package_index,
            kernel_quota=sandbox.kernel_quota,
            deps_limits=limits,
        )
        with pytest.raises(DepsError, match=said):
            box.image_for(spec)
