#!/usr/bin/env bash
# Builds the trainer image from functions/trainer/Dockerfile as lenet-trainer:local (or $1), locally:
# a running Docker engine, the local stand-in for the Node base image, and the host's CA bundle as the
# optional BuildKit secret `ca` (registries' TLS is only trusted with it inside containers here).
set -euo pipefail
cd "$(dirname "$0")/../.."
IMAGE=${1:-lenet-trainer:local}
local/docker/ensure-docker.sh
local/docker/build-base-image.sh
CA=${LENET_BUILD_CA:-/etc/ssl/certs/ca-certificates.crt}
secret=()
[ -s "$CA" ] && secret=(--secret "id=ca,src=$CA")
# --network host: the build's npm reaches the registry the way the host does.
DOCKER_BUILDKIT=1 /usr/bin/docker build --network host "${secret[@]}" \
  -f functions/trainer/Dockerfile -t "$IMAGE" .
/usr/bin/docker image inspect -f "built $IMAGE: {{.Id}} {{.Size}} bytes, user {{.Config.User}}" "$IMAGE"
