#!/usr/bin/env bash
# Makes sure a Docker engine answers: installs Debian's docker.io if missing (when root) and starts
# dockerd if it is not running (log: .local/dockerd.log). Otherwise prints ONE line naming what is
# missing and the command that fixes it, and exits 1.
# Uses /usr/bin/docker on purpose: a newer `docker` earlier on PATH may lack buildx/BuildKit support.
set -euo pipefail
cd "$(dirname "$0")/../.."
DOCKER=/usr/bin/docker

fail() { echo "ensure-docker: $*" >&2; exit 1; }
root() { [ "$(id -u)" = 0 ]; }

if [ ! -x "$DOCKER" ] || ! command -v dockerd >/dev/null; then
  root || fail "Docker is not installed; fix: sudo apt-get install -y docker.io"
  echo "ensure-docker: installing docker.io" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null
fi

"$DOCKER" info >/dev/null 2>&1 && exit 0

if [ -S /var/run/docker.sock ] && pgrep -x dockerd >/dev/null; then
  fail "dockerd runs but does not answer this user; fix: sudo usermod -aG docker $(id -un) (then log in again), or run as root"
fi
root || fail "dockerd is not running; fix: sudo dockerd >/tmp/dockerd.log 2>&1 &"
mkdir -p .local
echo "ensure-docker: starting dockerd (log: .local/dockerd.log)" >&2
# setsid + nohup: dockerd outlives this script (and the test run) like a system service would.
setsid nohup dockerd >>.local/dockerd.log 2>&1 </dev/null &
for _ in $(seq 1 60); do
  "$DOCKER" info >/dev/null 2>&1 && exit 0
  sleep 1
done
fail "dockerd did not answer within 60 s; see .local/dockerd.log"
