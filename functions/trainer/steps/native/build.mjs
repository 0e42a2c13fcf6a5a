// `npm run build:native`: builds the oneDNN training addon with node-gyp against the headers of the
// Node that runs this script (so node-gyp never downloads headers), and against oneDNN from:
//   LENET_ONEDNN unset or 'pypi'  oneDNN 3.x from PyPI, pip-installed (no root) into the git-ignored
//                                 .venv-onednn/ of the repository, which this script creates;
//   LENET_ONEDNN=system           Debian's libdnnl-dev (2.6 here), from /usr;
//   LENET_ONEDNN=<dir>            any install prefix with include/ and lib/.
// `--out DIR` copies the built addon there (the bench loads a second build side by side);
// `--if-missing` builds only when build/Release/lenet_native.node is absent or was built from another
// oneDNN than the one asked for (npm start and npm test's setup call it so); `--check` only tells
// (exit 0: up to date, 3: a build is needed, 2: it is, but there is no compiler or make).
// Exit status 2: no C++ compiler or make (the trainer then runs the wasm step).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..', '..', '..');
const addonPath = path.join(here, 'build', 'Release', 'lenet_native.node');
const { values } = parseArgs({
  options: { out: { type: 'string' }, 'if-missing': { type: 'boolean', default: false }, check: { type: 'boolean', default: false } },
});

// The OpenMP build of oneDNN 3.2 (libgomp, like Debian's). The newer `onednn` 2026.x wheel is a SYCL
// build: its CPU engine needs Intel's OpenCL CPU runtime, over 1.5 GB of wheels (docs/benchmarks.md).
const ONEDNN_WHEELS = ['onednn-cpu-gomp==2023.2.0', 'onednn-devel-cpu-gomp==2023.2.0'];
const ONEDNN_VENV = path.join(repo, '.venv-onednn');

const log = (line) => console.error(`build:native: ${line}`);
function fail(status, line) {
  log(line);
  process.exit(status);
}

const choice = process.env.LENET_ONEDNN || 'pypi';
// What the addon in build/ was built from: the choice, and the wheels for the PyPI one.
const builtFrom = path.join(here, 'build', 'lenet-onednn.txt');
const wantedFrom = choice === 'pypi' ? `pypi\n${ONEDNN_WHEELS.join('\n')}` : choice;
const upToDate = existsSync(addonPath) && existsSync(builtFrom) && readFileSync(builtFrom, 'utf8') === wantedFrom;
if ((values.check || values['if-missing']) && upToDate) process.exit(0);

for (const [tool, args] of [
  [process.env.CXX || 'c++', ['--version']],
  ['make', ['--version']],
]) {
  const r = spawnSync(tool, args, { stdio: 'ignore' });
  if (r.error || r.status !== 0) fail(2, `no ${tool === 'make' ? 'make' : `C++ compiler (${tool})`} on PATH`);
}
if (values.check) process.exit(3);

// The running Node's own headers first (npm may set npm_config_nodedir to another Node's).
const candidates = [path.dirname(path.dirname(process.execPath)), process.env.npm_config_nodedir, '/usr'].filter(Boolean);
const nodedir = candidates.find((dir) => existsSync(path.join(dir, 'include', 'node', 'node_api.h')));
if (!nodedir) fail(1, `no Node headers (include/node/node_api.h) under ${candidates.join(', ')}`);

/** The venv with the pinned oneDNN wheels, created or updated when its stamp differs; returns its prefix. */
function pypiOneDnn() {
  const py = path.join(ONEDNN_VENV, 'bin', 'python');
  const stamp = path.join(ONEDNN_VENV, 'lenet-wheels.txt');
  const wanted = ONEDNN_WHEELS.join('\n');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === wanted && existsSync(path.join(ONEDNN_VENV, 'lib', 'libdnnl.so')))
    return ONEDNN_VENV;
  const run = (cmd, args) => {
    const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    if (r.error || r.status !== 0) fail(1, `${cmd} ${args.join(' ')} failed: ${(r.stderr || String(r.error)).trim().split('\n').at(-1)}`);
  };
  if (!existsSync(py)) {
    log(`creating ${path.relative(repo, ONEDNN_VENV)}/ (python3 -m venv)`);
    run('python3', ['-m', 'venv', ONEDNN_VENV]);
  }
  // --no-deps: the wheels declare no runtime beyond libgomp, which g++ brings.
  log(`installing ${ONEDNN_WHEELS.join(' ')} (about 40 MB)`);
  run(py, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-deps', ...ONEDNN_WHEELS]);
  // Wheels carry no symlinks: libdnnl.so, .so.3 and .so.3.N are three 54 MB copies; keep one.
  const lib = path.join(ONEDNN_VENV, 'lib');
  const real = readdirSync(lib).find((f) => /^libdnnl\.so\.\d+\.\d+$/.test(f));
  if (real) {
    for (const alias of ['libdnnl.so', real.replace(/\.\d+$/, '')]) {
      rmSync(path.join(lib, alias), { force: true });
      symlinkSync(real, path.join(lib, alias));
    }
  }
  writeFileSync(stamp, wanted);
  return ONEDNN_VENV;
}

const prefix = choice === 'system' ? '' : choice === 'pypi' ? pypiOneDnn() : path.resolve(choice);
if (prefix && !existsSync(path.join(prefix, 'include', 'oneapi', 'dnnl', 'dnnl.hpp'))) fail(1, `no oneDNN headers under ${prefix}/include`);
if (!prefix && !existsSync('/usr/include/oneapi/dnnl/dnnl.hpp')) fail(1, "LENET_ONEDNN=system needs Debian's libdnnl-dev");

log(`compiling against oneDNN ${prefix ? `in ${path.relative(repo, prefix) || prefix}` : 'from /usr (system)'}`);
const gyp = createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
const started = Date.now();
const build = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`, `--onednn_prefix=${prefix}`, '-j', '2'], {
  cwd: here,
  encoding: 'utf8',
  maxBuffer: 64 << 20,
});
if (build.status !== 0) {
  // node-gyp's own lines are noise; the compiler's errors are what matters.
  const lines = `${build.stdout}\n${build.stderr}`.split('\n').filter((l) => l.trim() && !/^gyp (info|verb)/.test(l));
  console.error(lines.slice(-30).join('\n'));
  fail(build.status ?? 1, 'node-gyp rebuild failed (the compiler output is above)');
}
const loaded = spawnSync(process.execPath, ['-p', `require(${JSON.stringify(addonPath)}).dnnlVersion`], { encoding: 'utf8' });
if (loaded.status !== 0) fail(1, `built, but it does not load: ${loaded.stderr.trim().split('\n')[0]}`);
writeFileSync(builtFrom, wantedFrom);
if (values.out) {
  mkdirSync(values.out, { recursive: true });
  copyFileSync(addonPath, path.join(values.out, 'lenet_native.node'));
}
const seconds = ((Date.now() - started) / 1000).toFixed(0);
log(
  `built ${path.relative(repo, values.out ? path.join(values.out, 'lenet_native.node') : addonPath)} (oneDNN ${loaded.stdout.trim()}, ${seconds} s)`,
);
