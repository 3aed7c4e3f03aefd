#!/usr/bin/env python3
"""Import contracts of the package, checked from the source (every import statement, also those
inside functions and under TYPE_CHECKING): one module owns each external system.

  textual  only in ichain_tui/tui/
  web3, eth_account, eth_typing, eth_utils, eth_abi, eth_keys, eth_tester
           only in ichain_tui/chain/ (plus agents/envelopes.py for keccak and addresses, and
           type-only imports of LocalAccount)
  docker   only in ichain_tui/sandbox/
  stem     only in ichain_tui/transfer/tor.py
  requests, urllib3, socks
           only in ichain_tui/transfer/ and ichain_tui/chain/rpc.py
  the core (outside tui/) never imports ichain_tui.tui (the entry points cli.py and
  commands/demo.py open it from inside a function, when the user asks for the TUI)

(import-linter expresses the same contracts but is not installable offline here.)
Usage: scripts/check_imports.py [PACKAGE_DIR]; exit 1 and one line per breach when broken."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ETHEREUM = ("web3", "eth_account", "eth_typing", "eth_utils", "eth_abi", "eth_keys", "eth_tester")

# (top-level module names, allowed path prefixes relative to the package, exceptions)
CONTRACTS: list[tuple[tuple[str, ...], tuple[str, ...], str]] = [
    (("textual",), ("tui/",), "Textual belongs to the TUI"),
    (ETHEREUM, ("chain/", "agents/envelopes.py"), "Ethereum libraries belong to the chain layer"),
    (("docker",), ("sandbox/",), "the Docker SDK belongs to the sandbox"),
    (("stem",), ("transfer/tor.py",), "stem belongs to transfer/tor.py"),
    (
        ("requests", "urllib3", "socks"),
        ("transfer/", "chain/rpc.py"),
        "HTTP clients belong to transfers and RPC",
    ),
]
ENTRY_POINTS = {"cli.py", "commands/demo.py"}  # they start the TUI when the user asks for it
TYPE_ONLY_ALLOWED = {"eth_account.signers.local"}  # the LocalAccount type, named in signatures


def _imports(tree: ast.AST) -> list[tuple[str, int, bool, bool]]:
    """(module, line, type_only, in_function) for every import in `tree`."""
    found: list[tuple[str, int, bool, bool]] = []

    def visit(node: ast.AST, type_only: bool, in_function: bool) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                visit(child, True, in_function)
            for child in node.orelse:
                visit(child, type_only, in_function)
            return
        in_function = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno, type_only, in_function) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            found.append((module, node.lineno, type_only, in_function))
        for child in ast.iter_child_nodes(node):
            visit(child, type_only, in_function)

    visit(tree, False, False)
    return found


def breaches(package: Path) -> list[str]:
    out = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package).as_posix()
        tree = ast.parse(path.read_text(), str(path))
        for module, line, type_only, in_function in _imports(tree):
            target = module.lstrip(".").removeprefix("ichain_tui.")
            if module.startswith(".") or module.startswith("ichain_tui"):
                opens_tui = target == "tui" or target.startswith("tui.")
                # only an entry point may open the TUI, and only when asked to (inside a function)
                entry = rel in ENTRY_POINTS and in_function
                if opens_tui and not rel.startswith("tui/") and not entry:
                    out.append(f"{rel}:{line}: the core imports the TUI ({module})")
                continue
            top = module.split(".")[0]
            for names, allowed, why in CONTRACTS:
                if top in names and not rel.startswith(allowed):
                    if type_only and module in TYPE_ONLY_ALLOWED:
                        continue
                    out.append(f"{rel}:{line}: imports {module}: {why}")
    return out


def main(argv: list[str]) -> int:
    package = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1] / "ichain_tui"
    found = breaches(package)
    for line in found:
        print(line)
    print(f"import contracts: {len(found)} breach(es) in {package}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
