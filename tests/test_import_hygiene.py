"""The core (everything outside ichain_tui/tui/) never imports Textual."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import ichain_tui


def test_core_modules_do_not_import_textual():
    core = [
        m.name
        for m in pkgutil.walk_packages(ichain_tui.__path__, "ichain_tui.")
        if not m.name.startswith("ichain_tui.tui")
    ]
    assert "ichain_tui.chain.client" in core and "ichain_tui.cli" in core
    code = (
        "import importlib, sys\n"
        f"for name in {core!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"core imported: {result.stdout}"
