"""The provider's pre-check and the validator's check cannot be told apart from inside: same
mount sources in /proc/self/mountinfo (no host path naming a role, task id or home), same
environment, hostname, user and limits (issue 9, "roles indistinguishable")."""

from __future__ import annotations

import shutil

from sandbox_helpers import make_task

from ichain_tui.sandbox.staging import stage_name
from ichain_tui.sandbox.taskspec import load_task

PROBE = """
import hashlib, json, os, socket, sys
from pathlib import Path
mode, out = sys.argv[1], Path(sys.argv[2])
if mode == "execute":
    (out / "result.txt").write_text("42")
    sys.exit(0)
mounts = [line.split()[3:5] for line in open("/proc/self/mountinfo") if line.split()[4] in ("/task", "/out")]
facts = {"mounts": sorted(mounts), "env": sorted(os.environ.items()), "host": socket.gethostname(),
         "uid": os.getuid(), "cwd": os.getcwd(), "argv": sys.argv,
         "listing": sorted(os.listdir("/task")) + sorted(os.listdir("/out"))}
print("FACTS", json.dumps(facts, sort_keys=True))
print("DIGEST", hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest())
"""


def _facts(run) -> str:
    return next(line for line in run.stdout_tail if line.startswith("FACTS"))


def test_pre_check_and_validator_check_see_identical_environments(sandbox, tmp_path):
    # the provider's layout: .../provider/task-7/{task,result}; the validator's: .../validate-7/...
    provider_task = make_task(tmp_path / "home-alice" / "provider" / "task-7", PROBE)
    provider_result = tmp_path / "home-alice" / "provider" / "task-7" / "result"
    spec = load_task(provider_task)
    assert sandbox.execute(spec, provider_result).ok
    validator_base = tmp_path / "home-bob" / "validate-7"
    shutil.copytree(provider_task, validator_base / "task")
    shutil.copytree(provider_result, validator_base / "result")

    stage = stage_name(31337, "0xMarket", 7)
    pre_check = sandbox.check(spec, provider_result, stage=stage)
    validator = sandbox.check(load_task(validator_base / "task"), validator_base / "result", stage=stage)
    assert pre_check.ok and validator.ok
    assert _facts(pre_check) == _facts(validator)
    for hint in ("home-alice", "home-bob", "provider", "validate", "task-7", str(tmp_path)):
        assert hint not in _facts(pre_check), hint


def test_without_staging_host_paths_would_leak(sandbox, tmp_path):
    """The contrast the staging removes: an unstaged check sees the host folder's path."""
    task = make_task(tmp_path / "validate-9", PROBE)
    spec = load_task(task)
    assert sandbox.execute(spec, tmp_path / "validate-9" / "result").ok
    run = sandbox.check(spec, tmp_path / "validate-9" / "result")
    assert "validate-9" in _facts(run)
