#!/usr/bin/env bash
# Static checks CI runs before the tests: lint, format, types (strict on the core) and the import
# contracts of import-linter (pyproject.toml [tool.importlinter]: layers, one module owns each
# external system, no circles). Usage (after ./install.sh --dev): scripts/check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
rc=0
step() { echo "==> $*"; "$@" || rc=1; }
step .venv/bin/ruff check ichain_tui tests bench scripts
step .venv/bin/ruff format --check ichain_tui tests bench scripts
step .venv/bin/mypy
step .venv/bin/lint-imports --no-cache  # the layer rules in pyproject.toml [tool.importlinter]
[ $rc = 0 ] && echo "checks passed" || echo "checks FAILED" >&2
exit $rc
