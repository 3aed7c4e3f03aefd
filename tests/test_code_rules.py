"""Rules the whole package keeps, checked from its source: no float arithmetic on wei (amounts are
integers, parsed and formatted with Decimal in ichain_tui/amounts.py), and the import contracts of
scripts/check_imports.py (one module owns each external system)."""

from __future__ import annotations

import ast
import importlib.util
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


def _checker():
    spec = importlib.util.spec_from_file_location("check_imports", ROOT / "scripts" / "check_imports.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_imports"] = module
    spec.loader.exec_module(module)
    return module


def test_the_import_contracts_hold():
    assert _checker().breaches(PACKAGE) == []


def test_the_import_contracts_catch_a_breach(tmp_path):
    package = tmp_path / "ichain_tui"
    (package / "agents").mkdir(parents=True)
    (package / "agents" / "leaky.py").write_text(
        "import docker\nfrom web3 import Web3\n\ndef f():\n    import stem.control\n    from ..tui import app\n"
    )
    (package / "cli.py").write_text("from .tui.app import IchainApp\n")  # at import time: not allowed
    (package / "commands").mkdir()
    (package / "commands" / "demo.py").write_text("def run():\n    from ..tui.app import IchainApp\n")
    found = _checker().breaches(package)
    assert len(found) == 5, found
    assert any("docker" in f for f in found) and any("stem" in f for f in found)
    assert sum("imports the TUI" in f for f in found) == 2
