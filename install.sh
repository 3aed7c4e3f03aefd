#!/usr/bin/env bash
# Installs iChain TUI on Debian 12 / Ubuntu: system packages (docker.io, runsc, tor, debootstrap, node),
# the pinned npm packages (solc, anvil) in contracts/, a virtualenv .venv with the project, and the
# sandbox runtime image. Safe to run again; each step skips what is already there.
#
#   ./install.sh          # run the app:   ichain demo
#   ./install.sh --dev    # also the test dependencies:  scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)

DEV=0
IMAGE=1
for arg in "$@"; do
  case "$arg" in
    --dev) DEV=1 ;;
    --no-image) IMAGE=0 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install.sh: run as root or install sudo" >&2; exit 1; }
  SUDO="sudo"
fi

# ---------------------------------------------------------------- system packages
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v tor >/dev/null || need+=(tor)
command -v tor-gencert >/dev/null || need+=(tor)
command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
command -v tmux >/dev/null || need+=(tmux)
command -v runsc >/dev/null || need+=(runsc)  # gVisor, the stronger container runtime
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)  # per-task output filesystems
if [ $DEV = 1 ]; then  # the tests pull images by digest from a registry they start on 127.0.0.1
  command -v docker-registry >/dev/null || need+=(docker-registry)
fi
if [ ${#need[@]} -gt 0 ]; then
  # shellcheck disable=SC2207
  need=($(printf '%s\n' "${need[@]}" | sort -u))
  say "apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  say "system packages present"
fi
# Debian starts a system registry on install (on every interface); the tests run their own.
if command -v systemctl >/dev/null && systemctl is-active --quiet docker-registry 2>/dev/null; then
  $SUDO systemctl disable --now docker-registry || true
fi
# Debian starts a system tor on install; the app runs its own tor processes.
if command -v systemctl >/dev/null && systemctl is-active --quiet tor 2>/dev/null; then
  $SUDO systemctl stop tor || true
fi

python3 - <<'PY' || { echo "install.sh: Python >= 3.11 is required" >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY

# ---------------------------------------------------------------- npm: solc + anvil
if [ ! -x contracts/node_modules/.bin/solcjs ] || ! ls contracts/node_modules/@foundry-rs/anvil-*/bin/anvil >/dev/null 2>&1; then
  say "npm ci (solc, anvil) in contracts/"
  (cd contracts && npm ci --no-audit --no-fund --loglevel=error)
else
  say "npm packages present"
fi

# ---------------------------------------------------------------- virtualenv
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  python3 -m venv .venv
fi
stamp=".venv/.installed-$(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)-dev$DEV"
if [ ! -f "$stamp" ]; then
  say "pip install the project$([ $DEV = 1 ] && echo ' with test dependencies')"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  if [ $DEV = 1 ]; then
    # the exact versions CI tested (requirements.lock; regenerate with scripts/lock.sh)
    .venv/bin/python -m pip install -q -c requirements.lock -e ".[dev]"
  else
    .venv/bin/python -m pip install -q -c requirements.lock -e ".[embedded]"
  fi
  rm -f .venv/.installed-*
  touch "$stamp"
else
  say "python packages present"
fi
if [ -z "$SUDO" ] && [ -d /usr/local/bin ] && [ -w /usr/local/bin ]; then
  ln -sf "$ROOT/.venv/bin/ichain" /usr/local/bin/ichain
fi

# ---------------------------------------------------------------- docker engine + runtime image
if [ $IMAGE = 1 ]; then
  scripts/start-dockerd.sh
  if .venv/bin/python -c 'import ichain_tui.sandbox' 2>/dev/null; then
    say "sandbox runtime image"
    .venv/bin/ichain image build
  fi
fi

say "done: run '.venv/bin/ichain demo' (or 'ichain demo' where /usr/local/bin/ichain was linked)"
