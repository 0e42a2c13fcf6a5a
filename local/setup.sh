#!/usr/bin/env bash
# What the tests need on this machine, installed or started when missing; `npm test` runs it first.
# As root it installs Debian packages itself; otherwise it prints ONE line naming what is missing and
# the command that fixes it, and exits 1. Everything else lives in git-ignored folders of the repo:
# MiniStack in .venv/, cfn-lint in .venv-tools/, oneDNN in .venv-onednn/ and the native addon's build/,
# and local Docker images.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages, by the file or command that proves each is there.
#   chromium: browser tests · python3-venv: the emulators' venvs · docker.io, debootstrap: the trainer
#   image and its local base · g++, make: the native training addon (its oneDNN comes from PyPI) · docker-registry,
#   cmake, autoconf, automake, libtool: LocalStack's Docker Lambdas (npm run test:localstack)
declare -A need=(
  [chromium]=/usr/bin/chromium
  [docker.io]=/usr/bin/docker
  [debootstrap]=/usr/sbin/debootstrap
  [g++]=/usr/bin/g++
  [make]=/usr/bin/make
  [docker-registry]=/usr/bin/docker-registry
  [cmake]=/usr/bin/cmake
  [autoconf]=/usr/bin/autoconf
  [automake]=/usr/bin/automake
  [libtool]=/usr/bin/libtoolize
)
missing=()
for pkg in "${!need[@]}"; do [ -e "${need[$pkg]}" ] || missing+=("$pkg"); done
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages; fix: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -d node_modules ] || { echo "setup: no node_modules; fix: npm ci" >&2; exit 1; }
# Built once (oneDNN from PyPI into .venv-onednn/); rebuilt only when the pinned oneDNN changes.
node functions/trainer/steps/native/build.mjs --if-missing
npx tsx -e "import('./local/emulator.ts').then((m) => m.ensureVenv())"
npx tsx infra/cfn-lint.ts install
# Starts dockerd if needed, builds the local base stand-in once, and the trainer image (cached layers).
local/docker/build-trainer-image.sh >/dev/null
