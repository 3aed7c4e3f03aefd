#!/usr/bin/env bash
# Starts the Docker engine when it is not answering: systemd where it runs, else dockerd in the
# background (log: /var/log/ichain-dockerd.log). Waits until `docker info` answers.
set -euo pipefail
if docker info >/dev/null 2>&1; then exit 0; fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  $SUDO systemctl start docker || true
fi
if ! docker info >/dev/null 2>&1; then
  if ! pgrep -x dockerd >/dev/null; then
    echo "==> starting dockerd" >&2
    $SUDO bash -c 'nohup dockerd >/var/log/ichain-dockerd.log 2>&1 &'
  fi
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
fi
docker info >/dev/null 2>&1 || { echo "start-dockerd.sh: the Docker engine did not start (see /var/log/ichain-dockerd.log)" >&2; exit 1; }
