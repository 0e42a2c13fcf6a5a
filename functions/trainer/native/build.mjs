// `npm run build:native`: builds the oneDNN addon with node-gyp against the headers of the Node
// that runs this script (Debian's in /usr/include/node, the node image's in /usr/local/include/node),
// so node-gyp never downloads headers.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const candidates = [process.env.npm_config_nodedir, path.dirname(path.dirname(process.execPath)), '/usr'].filter(Boolean);
const nodedir = candidates.find((dir) => existsSync(path.join(dir, 'include', 'node', 'node_api.h')));
if (!nodedir) {
  console.error(`no Node headers (include/node/node_api.h) under ${candidates.join(', ')}`);
  process.exit(1);
}
const gyp = createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
const run = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`, '-j', '2'], { cwd: here, stdio: 'inherit' });
process.exit(run.status ?? 1);
