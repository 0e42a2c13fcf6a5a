#!/usr/bin/env bash
# Builds @tensorflow/tfjs-node 4.22.0 from its own sources against the TensorFlow C API that the
# PyPI tensorflow-cpu 2.21.0 wheel ships, into the git-ignored .tfjs-node/ (for `npm run bench`
# and test/integration/backend-checkpoints.test.ts; the wheel's libraries are about 850 MB).
# With --install it then places it in the project's node_modules as `npm ci` would with internet
# (./install.mjs), where the trainer's backend choice finds it.
#
#   local/tfjs-node/build.sh [--install]     # ~25 s once the packages are in npm's cache
#   KERAS_VENV=/path/to/venv local/tfjs-node/build.sh
#
# The wheel comes from the venv the Keras bench route uses: $KERAS_VENV, else .venv-keras/ in the
# repository (may be a symlink), made with `python3 -m venv .venv-keras && .venv-keras/bin/pip
# install tensorflow-cpu==2.21.0`. Nothing is downloaded here but the npm packages: the
# install script's libtensorflow download is skipped by linking the wheel's libraries in its place.
# Builds for the `node` first on PATH, against its own headers (<prefix>/include/node next to
# <prefix>/bin/node, as in Node's release tarballs and Debian's /usr), or npm_config_nodedir's;
# a binding built for another Node's ABI would not load. Needs g++ and make.
set -euo pipefail
install=0
for arg in "$@"; do
  case "$arg" in
    --install) install=1 ;;
    *) echo "tfjs-node build: unknown argument $arg (--install)" >&2; exit 2 ;;
  esac
done
repo="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${KERAS_VENV:-$repo/.venv-keras}"
tfdir="$(ls -d "$venv"/lib/python3*/site-packages/tensorflow 2>/dev/null | head -n1 || true)"
if [[ -z "$tfdir" || ! -f "$tfdir/libtensorflow_cc.so.2" ]]; then
  echo "tfjs-node build: no tensorflow-cpu wheel in $venv (set KERAS_VENV, or create .venv-keras with tensorflow-cpu==2.21.0)" >&2
  exit 1
fi
version="$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("tensorflow-cpu"))' 2>/dev/null || echo unknown)"
[[ "$version" == 2.21.0 ]] || echo "tfjs-node build: warning: tensorflow-cpu is $version, not 2.21.0" >&2
nodedir="${npm_config_nodedir:-$(dirname "$(dirname "$(node -p 'process.execPath')")")}"
[[ -f "$nodedir/include/node/node_api.h" ]] || { echo "tfjs-node build: no headers of Node $(node --version) in $nodedir/include/node (set npm_config_nodedir)" >&2; exit 1; }
npmdir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
gyp="$npmdir/node_modules/node-gyp/bin/node-gyp.js"
[[ -f "$gyp" ]] || { echo "tfjs-node build: npm's own node-gyp not found at $gyp" >&2; exit 1; }

out="$repo/.tfjs-node"
mkdir -p "$out"
cd "$out"
[[ -f package.json ]] || echo '{"private": true, "description": "tfjs-node built by local/tfjs-node/build.sh, for benchmarks and tests only"}' >package.json
# 1. The package and its JS dependencies, without its install script (which would download libtensorflow 2.9.1).
npm install --ignore-scripts --no-audit --no-fund --no-save @tensorflow/tfjs-node@4.22.0

pkg="$out/node_modules/@tensorflow/tfjs-node"
# 2. The wheel's headers and libraries where the binding's gyp file and the install script look.
rm -rf "$pkg/deps" "$pkg/lib"
mkdir -p "$pkg/deps/lib"
ln -s "$tfdir/include" "$pkg/deps/include"
ln -s "$tfdir/libtensorflow_cc.so.2" "$pkg/deps/lib/libtensorflow_cc.so.2"
ln -s "$tfdir/libtensorflow_framework.so.2" "$pkg/deps/lib/libtensorflow_framework.so.2"
ln -s "$tfdir/libtensorflow_framework.so.2" "$pkg/deps/lib/libtensorflow_framework.so"
ln -s libtensorflow_cc.so.2 "$pkg/deps/lib/libtensorflow.so"
ln -s libtensorflow_cc.so.2 "$pkg/deps/lib/libtensorflow.so.2"
ln -s libtensorflow_cc.so.2 "$pkg/deps/lib/libtensorflow.so.2.9.1"
# 3. A custom tf-lib makes the install script build the binding from source (its URI is never fetched: the library exists).
echo '{"tf-lib":"file:///unused"}' >"$pkg/scripts/custom-binary.json"
# 4. Build with node-pre-gyp (on PATH from .bin) and npm's own node-gyp, against the local Node headers.
cd "$pkg"
PATH="$out/node_modules/.bin:$PATH" npm_config_nodedir="$nodedir" npm_config_node_gyp="$gyp" node scripts/install.js
binding="$(find "$pkg/lib" -name tfjs_binding.node | head -n1)"
[[ -n "$binding" ]] || { echo "tfjs-node build: no tfjs_binding.node was built" >&2; exit 1; }
cd "$out"
TF_CPP_MIN_LOG_LEVEL=3 node -e "require('@tensorflow/tfjs-node'); console.log('tfjs-node', require('@tensorflow/tfjs-node/package.json').version, 'loads in Node', process.version)"
echo "tfjs-node built: $binding (TensorFlow C API of tensorflow-cpu $version in $tfdir)"
if (( install )); then node "$repo/local/tfjs-node/install.mjs"; fi
