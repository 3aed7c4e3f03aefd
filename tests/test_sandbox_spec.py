"""Task specs and GPU requests: validation with clear errors, the device request that is built."""

from __future__ import annotations

import pytest
from docker.types import DeviceRequest

from ichain_tui.hardware import GpuModel, HardwareProfile
from ichain_tui.sandbox.engine import SandboxError
from ichain_tui.sandbox.gpu import Gpu, detect_gpus, device_requests, local_profile, parse_nvidia_smi, summary
from ichain_tui.sandbox.taskspec import TaskSpecError, load_task


def folder(tmp_path, toml=None, entry=True):
    if entry:
        (tmp_path / "task.py").write_text("print('hi')\n")
    if toml is not None:
        (tmp_path / "ichain.toml").write_text(toml)
    return tmp_path


def test_defaults_without_ichain_toml(tmp_path):
    spec = load_task(folder(tmp_path))
    assert (spec.time_limit, spec.memory_mb, spec.pids, spec.output_mb, spec.gpus) == (600, 1024, 128, 256, 0)
    assert spec.comparator == {} and spec.image == ""


def test_settings_and_comparator_are_read(tmp_path):
    spec = load_task(
        folder(tmp_path, "time_limit = 5\nmemory_mb = 256\ngpus = 1\n[comparator]\ntolerance = 0.1\n")
    )
    assert spec.time_limit == 5 and spec.memory_mb == 256 and spec.gpus == 1
    assert spec.comparator == {"tolerance": 0.1}
    assert spec.comparator_json() == '{"tolerance": 0.1}'


@pytest.mark.parametrize(
    "toml, message",
    [
        ("time_limit = [", "not valid TOML"),
        ("colour = 'red'", "unknown setting 'colour'"),
        ("memory_mb = 'lots'", "memory_mb must be an integer"),
        ("memory_mb = 1.5", "memory_mb must be an integer"),
        ("time_limit = 0", "outside"),
        ("pids = 1", "outside"),
        ("comparator = 3", "must be a table"),
        ("image = ''", "non-empty"),
        ("gpus = true", "gpus must be an integer"),
        ("[comparator]\nwhen = 1979-05-27T07:32:00Z", "no dates"),
        ("[comparator]\nlimit = inf", "no inf or nan"),
        pytest.param(
            "[comparator]\nblob = '" + "x" * 20000 + "'", "larger than 16384 bytes", id="big-comparator"
        ),
        pytest.param("x = " + "[" * 60_000, "nested more than 32 levels", id="nested-arrays"),
        pytest.param(
            "[comparator]\n" + "a." * 30_000 + "a = 1", "nested more than 32 levels", id="dotted-keys"
        ),
        pytest.param("# " + "x" * 70_000, "larger than 65536 bytes", id="big-file"),
    ],
)
def test_malformed_specs_are_refused_clearly(tmp_path, toml, message):
    with pytest.raises(TaskSpecError, match=message):
        load_task(folder(tmp_path, toml))


def test_ichain_toml_that_is_a_folder_is_refused(tmp_path):
    (folder(tmp_path) / "ichain.toml").mkdir()
    with pytest.raises(TaskSpecError, match="not a regular file"):
        load_task(tmp_path)


def test_folder_without_task_py_is_refused(tmp_path):
    with pytest.raises(TaskSpecError, match=r"no task\.py"):
        load_task(folder(tmp_path, entry=False))
    with pytest.raises(TaskSpecError, match="not a folder"):
        load_task(tmp_path / "missing")


NVIDIA_SMI = "0, NVIDIA A100-SXM4-80GB, 81920\n1, NVIDIA A100-SXM4-80GB, 81920\n"


def test_nvidia_smi_output_is_parsed_into_the_profile(tmp_path):
    fake = tmp_path / "nvidia-smi"
    fake.write_text(f"#!/bin/sh\nprintf '{NVIDIA_SMI}'\n")
    fake.chmod(0o755)
    gpus = detect_gpus(str(fake))
    assert gpus == [Gpu(0, "NVIDIA A100-SXM4-80GB", 81920), Gpu(1, "NVIDIA A100-SXM4-80GB", 81920)]
    assert summary(gpus) == "2x NVIDIA A100-SXM4-80GB 80GB"
    profile = local_profile(gpus)  # what a provider on this machine registers on chain
    assert profile.gpus == (GpuModel("NVIDIA A100-SXM4-80GB", 81920),) * 2 and profile.cpus > 0
    assert HardwareProfile.parse(profile.encode()) == profile
    assert profile.offers_gpus(2) and profile.offers_gpus(-1) and not profile.offers_gpus(3)
    assert detect_gpus(str(tmp_path / "absent")) == []
    assert parse_nvidia_smi("garbage\n") == []


def test_gpu_requests_are_built_or_refused():
    gpus = parse_nvidia_smi(NVIDIA_SMI)
    assert device_requests(0, []) == []
    (one,) = device_requests(1, gpus)
    assert isinstance(one, DeviceRequest) and one["DeviceIDs"] == ["0"] and one["Capabilities"] == [["gpu"]]
    (everything,) = device_requests(-1, gpus)
    assert everything["Count"] == -1
    with pytest.raises(SandboxError, match="has none"):
        device_requests(1, [])
    with pytest.raises(SandboxError, match="has 2"):
        device_requests(3, gpus)


def test_gpu_task_gets_the_request_in_the_container_config(tmp_path, sandbox):
    from ichain_tui.sandbox.runner import Sandbox

    spec = load_task(folder(tmp_path, "gpus = 1\n"))
    with_gpus = Sandbox(sandbox.dc, sandbox.image, gpus=parse_nvidia_smi(NVIDIA_SMI))
    kwargs = with_gpus.create_kwargs(spec, "execute", tmp_path, True)
    assert kwargs["device_requests"][0]["DeviceIDs"] == ["0"]
    with pytest.raises(SandboxError, match="has none"):
        sandbox.create_kwargs(spec, "execute", tmp_path, True)


def test_a_staged_folder_of_a_live_run_is_waited_for_and_a_dead_runs_is_removed(tmp_path):
    """A provider's pre-check and a validator's check of one task share the staged name: on one
    machine the second waits for the first instead of pulling the folder from under it."""
    import threading
    import time

    from ichain_tui.sandbox.staging import OWNER, PREFIX, staged

    task = tmp_path / "task"
    task.mkdir()
    (task / "task.py").write_text("print(1)\n")
    base = tmp_path / "tmp"
    base.mkdir()
    left = base / f"{PREFIX}same"
    left.mkdir()
    (left / OWNER).write_text("999999")  # a run that died
    with staged(task, None, "same", base) as (staged_task, _):
        assert (staged_task / "task.py").read_text() == "print(1)\n"
    order = []

    def second() -> None:
        with staged(task, None, "same", base):
            order.append("second")

    with staged(task, None, "same", base) as (first_task, _):
        other = threading.Thread(target=second)
        other.start()
        time.sleep(0.6)
        assert (first_task / "task.py").exists() and order == []  # still ours, the other waits
        order.append("first")
    other.join(10)
    assert order == ["first", "second"] and not left.exists()


def test_shutting_down_a_stream_the_reader_already_closed_is_a_no_op():
    """The container's output stream may end and be closed by its reader just before the
    supervisor, seeing the container stopped, shuts it down (a race seen in CI)."""
    import socket

    from ichain_tui.sandbox.supervise import _shutdown

    left, right = socket.socketpair()
    stream = socket.SocketIO(left, "rb")
    stream.close()  # SocketIO drops its socket: `_sock` is None now
    assert stream._sock is None
    _shutdown(stream)
    _shutdown(right)
    right.close()
    left.close()
