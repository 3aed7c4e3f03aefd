#!/usr/bin/env bash
# Runs the whole test suite against the real parts: eth-tester, anvil, dockerd, a private Tor network.
# Usage (after ./install.sh --dev): scripts/test.sh [pytest args]
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/start-dockerd.sh || exit 1
.venv/bin/python -m pytest -p no:cacheprovider "$@"
rc=$?
if [ $rc -eq 5 ]; then
  echo "scripts/test.sh: pytest collected no tests; that is a failure" >&2
  exit 1
fi
exit $rc
