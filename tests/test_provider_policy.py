"""Issue 10: the provider's policy — defaults derived from the host, settings override them, and
a task asking for more is refused with a reason before anything runs."""

from __future__ import annotations

import os

import pytest
from cli_helpers import ichain

from ichain_tui.config import ConfigError, Settings
from ichain_tui.sandbox import policy as policies
from ichain_tui.sandbox.taskspec import TaskSpec


def test_defaults_come_from_the_host(tmp_path):
    policy = policies.for_host(tmp_path, gpu_count=0)
    assert policy.max_memory_mb == max(256, policies.host_memory_mb() // 2)
    assert policy.max_cpus == float(os.cpu_count())
    assert policy.max_pids <= policies.host_pid_max() // 8 or policy.max_pids == 64
    assert policy.max_output_mb <= policies.free_disk(tmp_path) // policies.MiB // 4
    assert policy.allowed_images == ("ichain-runtime:bookworm",) and policy.max_gpus == 0


def test_settings_override_the_defaults(tmp_path):
    settings = Settings.load(
        path=tmp_path / "none.toml",
        env={
            "ICHAIN_MAX_MEMORY_MB": "512",
            "ICHAIN_MAX_PIDS": "64",
            "ICHAIN_ALLOWED_IMAGES": "a:1, b@sha256:" + "0" * 64,
            "ICHAIN_CONTAINER_RUNTIME": "runsc",
            "ICHAIN_MAX_GPUS": "0",
        },
    )
    policy = policies.from_settings(settings, tmp_path, gpu_count=2)
    assert (policy.max_memory_mb, policy.max_pids, policy.runtime, policy.max_gpus) == (512, 64, "runsc", 0)
    assert policy.allowed_images == ("a:1", "b@sha256:" + "0" * 64)
    with pytest.raises(ConfigError, match=r"container_runtime in .* must be one of 'runc' or 'runsc'"):
        Settings.load(path=tmp_path / "none.toml", env={"ICHAIN_CONTAINER_RUNTIME": "kata"})


@pytest.mark.parametrize(
    "asks, reason",
    [
        ({"memory_mb": 4096}, "task asks for memory 4096 MB, this provider allows at most 1024 MB"),
        ({"cpus": 3.5}, "task asks for CPUs 3.5, this provider allows at most 2"),
        ({"pids": 65536}, "task asks for processes 65536, this provider allows at most 256"),
        ({"time_limit": 7 * 86400}, "task asks for wall time 604800 s, this provider allows at most 3600 s"),
        ({"output_mb": 1 << 20}, "task asks for output 1048576 MB, this provider allows at most 100 MB"),
        (
            {"image": "busybox:latest"},
            "task asks for image 'busybox:latest', this provider allows only ichain-runtime:bookworm",
        ),
        ({"gpus": 1}, "task asks for 1 GPUs, this provider allows 0"),
        ({"gpus": -1}, "task asks for all GPUs, this provider allows 0"),
        ({"output_mb": 60}, "not enough free disk for 60 MB of output (100 MB free, 50 MB kept in reserve)"),
    ],
)
def test_a_task_asking_for_more_is_refused_with_the_reason(tmp_path, asks, reason):
    policy = policies.ProviderPolicy(
        max_memory_mb=1024,
        max_cpus=2,
        max_pids=256,
        max_time_s=3600,
        max_output_mb=100,
        max_output_files=1000,
        disk_reserve_mb=50,
        allowed_images=("ichain-runtime:bookworm",),
        max_gpus=0,
    )
    modest = {"output_mb": 10}
    assert policy.refusal(TaskSpec(tmp_path, **modest), free_disk_bytes=100 * policies.MiB) is None
    assert policy.refusal(TaskSpec(tmp_path, **(modest | asks)), free_disk_bytes=100 * policies.MiB) == reason


def test_config_show_lists_the_policy(tmp_path):
    result = ichain("config", "show", env={"ICHAIN_HOME": str(tmp_path), "ICHAIN_MAX_MEMORY_MB": "777"})
    assert result.returncode == 0, result.stderr
    for name in (
        "max_memory_mb",
        "max_output_files",
        "disk_reserve_mb",
        "allowed_images",
        "container_runtime",
    ):
        assert name in result.stdout
    assert "777" in result.stdout


def test_config_set_writes_a_validated_value_and_an_empty_one_restores_the_default(tmp_path):
    env = {"ICHAIN_HOME": str(tmp_path)}
    assert ichain("config", "set", "max_pids", "512", env=env).returncode == 0
    assert ichain("config", "set", "allowed_images", "a:1,b:2", env=env).returncode == 0
    bad = ichain("config", "set", "container_runtime", "kata", env=env)
    assert (
        bad.returncode != 0
        and "container_runtime in the new values must be one of 'runc' or 'runsc'" in bad.stderr
    )
    assert "Traceback" not in bad.stderr
    config = (tmp_path / "config" / "config.toml").read_text()
    assert config == 'allowed_images = "a:1,b:2"\nmax_pids = 512\n'
    assert ichain("config", "set", "max_pids", "", env=env).returncode == 0
    assert (tmp_path / "config" / "config.toml").read_text() == 'allowed_images = "a:1,b:2"\n'
