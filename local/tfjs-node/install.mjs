// Places the tfjs-node that local/tfjs-node/build.sh built in .tfjs-node/ into the project's
// node_modules as `npm ci` would on a machine that can download its binary: every package that
// package-lock.json lists for @tensorflow/tfjs-node and its dependencies, at the lock's path and
// version. Packages already there are left alone (a different version there is reported, never
// replaced). Each package is copied from .tfjs-node/ when it holds that name and version, else
// fetched with `npm pack` and checked against the lock's integrity. No install script runs: the
// built binding (lib/) and its links to the wheel's libtensorflow (deps/) come with the package.
// npm's hidden lockfile is not touched; npm reads the real tree when it is older than node_modules.
//
//   node local/tfjs-node/install.mjs           (or: local/tfjs-node/build.sh --install)
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const built = path.join(repo, '.tfjs-node');
const ROOT = 'node_modules/@tensorflow/tfjs-node';
const log = (line) => console.error(`tfjs-node install: ${line}`);
const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));
const versionAt = (dir) => (existsSync(path.join(dir, 'package.json')) ? readJson(path.join(dir, 'package.json')).version : undefined);

if (!existsSync(path.join(built, ROOT, 'lib'))) {
  log(`no built tfjs-node in ${built}: run local/tfjs-node/build.sh first`);
  process.exit(1);
}
const lock = readJson(path.join(repo, 'package-lock.json')).packages;
if (!lock[ROOT]) {
  log(`package-lock.json has no ${ROOT}`);
  process.exit(1);
}

/** The lock path a dependency of `from` resolves to, as Node resolves it: nearest node_modules up the tree. */
function resolveIn(from, dep) {
  for (let base = from; ; ) {
    const key = base ? `${base}/node_modules/${dep}` : `node_modules/${dep}`;
    if (lock[key]) return key;
    if (!base) return undefined;
    const i = base.lastIndexOf('/node_modules/');
    base = i < 0 ? '' : base.slice(0, i);
  }
}

// The closure npm ci installs for it: required and optional dependencies, not peers.
const closure = new Set();
for (const todo = [ROOT]; todo.length; ) {
  const key = todo.pop();
  if (closure.has(key)) continue;
  closure.add(key);
  for (const dep of Object.keys({ ...lock[key].dependencies, ...lock[key].optionalDependencies })) {
    const at = resolveIn(key, dep);
    if (at) todo.push(at);
    else if (!lock[key].optionalDependencies?.[dep]) throw new Error(`${key} needs ${dep}, which package-lock.json does not place`);
  }
}

/** Every package directory in .tfjs-node/node_modules, by name@version. */
const sources = new Map();
(function scan(dir) {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir)) {
    if (entry.startsWith('.')) continue;
    const at = path.join(dir, entry);
    if (entry.startsWith('@')) {
      scan(at);
      continue;
    }
    const pkg = path.join(at, 'package.json');
    if (existsSync(pkg)) {
      const { name, version } = readJson(pkg);
      if (!sources.has(`${name}@${version}`)) sources.set(`${name}@${version}`, at);
    }
    scan(path.join(at, 'node_modules'));
  }
})(path.join(built, 'node_modules'));

const nameOf = (key) => key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
const copyPackage = (from, to) =>
  cpSync(from, to, {
    recursive: true,
    verbatimSymlinks: true,
    // Nested node_modules are packages of their own in the lock; build-tmp-* is node-pre-gyp's scratch.
    filter: (src) => !/[/\\](node_modules|build-tmp-[^/\\]*)$/.test(src.slice(from.length)),
  });

function packFromRegistry(name, version, integrity, to) {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'tfjs-node-pack-'));
  try {
    const [packed] = JSON.parse(
      execFileSync('npm', ['pack', `${name}@${version}`, '--json', '--pack-destination', tmp], { encoding: 'utf8' }),
    );
    if (integrity && packed.integrity !== integrity)
      throw new Error(`${name}@${version}: integrity ${packed.integrity}, the lock says ${integrity}`);
    mkdirSync(to, { recursive: true });
    execFileSync('tar', ['-xzf', path.join(tmp, packed.filename), '-C', to, '--strip-components=1', '--no-same-owner']);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const counts = { present: 0, copied: 0, packed: 0, different: 0 };
const added = [];
for (const key of [...closure].sort()) {
  const { version, integrity } = lock[key];
  const name = nameOf(key);
  const target = path.join(repo, key);
  const have = versionAt(target);
  if (have !== undefined) {
    if (have === version) counts.present++;
    else {
      counts.different++;
      log(`${key} is ${have} here, the lock says ${version}: left as it is`);
    }
    continue;
  }
  // The built tfjs-node is the one package that must come from .tfjs-node (the registry's has no binding).
  const source = key === ROOT ? path.join(built, ROOT) : sources.get(`${name}@${version}`);
  if (source) {
    copyPackage(source, target);
    counts.copied++;
  } else {
    packFromRegistry(name, version, integrity, target);
    counts.packed++;
  }
  added.push(key);
}

// npm ci links the bin entries of top-level packages into node_modules/.bin.
let bins = 0;
for (const key of added.filter((k) => k.split('node_modules/').length === 2)) {
  const bin = readJson(path.join(repo, key, 'package.json')).bin;
  const entries = typeof bin === 'string' ? { [nameOf(key).split('/').pop()]: bin } : (bin ?? {});
  for (const [cmd, file] of Object.entries(entries)) {
    const link = path.join(repo, 'node_modules', '.bin', cmd);
    if (existsSync(link)) continue;
    mkdirSync(path.dirname(link), { recursive: true });
    symlinkSync(path.relative(path.dirname(link), path.join(repo, key, file)), link);
    bins++;
  }
}

const tfn = path.join(repo, ROOT);
const probe = `require('@tensorflow/tfjs-node'); console.log(require('@tensorflow/tfjs-node/package.json').version)`;
const loaded = execFileSync(process.execPath, ['-e', probe], {
  cwd: repo,
  encoding: 'utf8',
  env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' },
});
log(
  `${closure.size} packages for ${ROOT}: ${counts.copied} copied from .tfjs-node, ${counts.packed} from the registry, ` +
    `${counts.present} already there${counts.different ? `, ${counts.different} at another version` : ''}; ${bins} bin links; ` +
    `loads in Node ${process.version} from ${tfn} (${loaded.trim()})`,
);
