"""Rules the whole package keeps, checked from its source: no float arithmetic on wei (amounts are
integers, parsed and formatted with Decimal in ichain_tui/amounts.py), and the import contracts of
pyproject.toml, checked by import-linter (layers, one module owns each external system, no circles)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ichain_tui"
SCALES = {10**6, 10**9, 10**18}


def _scale(node: ast.AST) -> bool:
    """A power-of-ten unit scale (1e9, 1e18, 10**18, WEI_PER_ETH-like literals)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return node.value in SCALES
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        return isinstance(node.left, ast.Constant) and node.left.value == 10
    return False


def float_money_math(source: str, name: str) -> list[str]:
    """Lines that divide by a unit scale (`wei / 1e18`, `x / 10**9`) or write a float literal of a
    unit scale (`1e18`, `1e9`): the ways a float gets into an amount."""
    found = []
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.Constant) and isinstance(node.value, float) and abs(node.value) >= 1e6:
            found.append(f"{name}:{node.lineno}: float literal {node.value!r}")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and _scale(node.right):
            found.append(f"{name}:{node.lineno}: true division by a unit scale: {ast.unparse(node)}")
    return found


def test_the_rule_catches_float_money_math():
    bad = "eth = wei / 1e18\ngwei = fee / 10**9\nprice = int(0.01 * 1e18)\n"
    assert {int(line.split(":")[1]) for line in float_money_math(bad, "bad.py")} == {1, 2, 3}
    assert float_money_math("eth = Decimal(wei) / WEI_PER_ETH\nn = wei // 10**9\n", "good.py") == []


def test_no_float_touches_a_wei_amount_anywhere_in_the_package():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        found += float_money_math(path.read_text(), str(path.relative_to(ROOT)))
    assert found == []


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on the package found in `root` with the contracts of pyproject.toml."""
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "lint-imports"),
            "--no-cache",
            "--config",
            str(ROOT / "pyproject.toml"),
        ],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_import_contracts_hold():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


def test_the_import_contracts_catch_each_kind_of_breach(tmp_path):
    """A copy of the package with one module that breaks the layer, ownership and circle rules."""
    shutil.copytree(PACKAGE, tmp_path / "ichain_tui", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "ichain_tui" / "agents" / "leaky.py").write_text(
        "import docker\nfrom web3 import Web3\nimport stem.control\nfrom ..tui import app\n"
        "from ..commands import provide\n"
    )
    (tmp_path / "ichain_tui" / "chain" / "leaky.py").write_text("from ..agents import provider\n")
    result = _lint_imports(tmp_path)
    assert result.returncode == 1
    broken = {line.split(" BROKEN")[0].strip() for line in result.stdout.splitlines() if "BROKEN" in line}
    out = result.stdout
    assert "ichain_tui.agents.leaky -> docker" in out and "ichain_tui.agents.leaky -> web3" in out
    assert "ichain_tui.agents.leaky -> stem" in out.replace("stem.control", "stem")
    assert "ichain_tui.agents.leaky -> ichain_tui.tui" in out
    assert "ichain_tui.chain.leaky -> ichain_tui.agents" in out.replace("agents.provider", "agents")
    assert len(broken) >= 5, out[-3000:]
