"""The committed contract artifacts are exactly what the pinned npm solc makes of the sources."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_committed_artifacts_match_the_sources():
    result = subprocess.run(
        ["node", str(ROOT / "contracts" / "scripts" / "compile.mjs"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr + result.stdout


def test_artifacts_target_cancun_with_the_pinned_compiler():
    pinned = json.loads((ROOT / "contracts" / "package.json").read_text())["dependencies"]["solc"]
    for name in ("Marketplace", "Ratings"):
        art = json.loads((ROOT / "contracts" / "build" / f"{name}.json").read_text())
        assert art["compiler"]["evmVersion"] == "cancun"
        assert art["compiler"]["solc"].startswith(pinned)
        assert art["bytecode"].startswith("0x") and len(art["bytecode"]) > 100
        assert any(item["type"] == "error" for item in art["abi"]) or name == "Ratings"
