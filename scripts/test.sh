#!/usr/bin/env bash
# Runs the static checks (scripts/check.sh) and then the whole test suite against the real parts:
# eth-tester, anvil, dockerd, a private Tor network. Test files run in parallel worker processes
# (pytest-xdist, one file per worker at a time: a file's fixtures stay in one process); most of
# the suite waits on chains, containers and Tor, not on the CPU.
# Usage (after ./install.sh --dev): scripts/test.sh [pytest args]
#   ICHAIN_TEST_WORKERS=1 scripts/test.sh   runs the files one after another
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/check.sh || exit 1
scripts/start-dockerd.sh || exit 1
workers="${ICHAIN_TEST_WORKERS:-3}"
parallel=()
[ "$workers" != 1 ] && parallel=(-n "$workers" --dist loadfile)
.venv/bin/python -m pytest -p no:cacheprovider "${parallel[@]}" "$@"
rc=$?
if [ $rc -eq 5 ]; then
  echo "scripts/test.sh: pytest collected no tests; that is a failure" >&2
  exit 1
fi
exit $rc
