#!/usr/bin/env bash
# Writes requirements.lock: the exact versions of every Python package in .venv (installed by
# ./install.sh --dev). install.sh installs with it as constraints, so CI tests what was locked.
# Run after changing dependencies in pyproject.toml: scripts/lock.sh && ./install.sh --dev
set -euo pipefail
cd "$(dirname "$0")/.."
{
  echo "# exact versions of the tested environment; regenerate with scripts/lock.sh"
  .venv/bin/python -m pip freeze --exclude-editable --all | grep -v -E '^(pip|setuptools|wheel)=='
} > requirements.lock
echo "requirements.lock: $(grep -vc '^#' requirements.lock) packages"
