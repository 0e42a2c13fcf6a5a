/**
 * The page as built at synth: the api function's bundle serves it as constants (no esbuild, no page
 * source at run time), the script is minified and self-contained, and the page stays in its budget.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { build } from 'esbuild';
import { PAGE_CSP, PAGE_HTML } from '../../functions/api/page';
import { buildPage, buildPageScript, pageDefines } from '../../functions/api/web/build';

const HANDLER = fileURLToPath(new URL('../../functions/api/handler.ts', import.meta.url));

test('page: built from source the same way infra builds it, byte for byte', () => {
  const page = buildPage();
  assert.equal(PAGE_HTML, page.html);
  assert.equal(PAGE_CSP, page.csp);
  assert.equal(buildPageScript(), buildPageScript(), 'the build is deterministic, so the CSP a test computes is the one served');
});

test('page: the api bundle serves the page built at synth and carries neither esbuild nor the page source', async () => {
  // A page unlike the real one proves the bundle serves what the defines carry, not a copy it built.
  const page = { html: '<!doctype html><p>synth "page" `x` $y\n</p>', csp: "default-src 'none'" };
  const out = await build({
    entryPoints: [HANDLER],
    bundle: true,
    minify: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    external: ['@aws-sdk/*'],
    define: pageDefines(page),
    write: false,
    metafile: true,
    logLevel: 'error',
  });
  const inputs = Object.keys(out.metafile.inputs);
  assert.deepEqual(
    inputs.filter((f) => f.includes('esbuild') || f.includes('functions/api/web/')),
    [],
  );
  const code = out.outputFiles[0].text;
  assert.doesNotMatch(code, /node:module|createRequire/);

  const mod = { exports: {} as { handler: (e: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult> } };
  new Function('module', 'exports', 'require', code)(mod, mod.exports, createRequire(HANDLER));
  const env = { BUCKET_NAME: process.env.BUCKET_NAME, QUEUE_URL: process.env.QUEUE_URL };
  Object.assign(process.env, { BUCKET_NAME: 'b', QUEUE_URL: 'q' });
  try {
    const res = await mod.exports.handler({ httpMethod: 'GET', path: '/', resource: '/' } as APIGatewayProxyEvent);
    assert.equal(res.statusCode, 200);
    assert.equal(res.body, page.html);
    assert.equal(res.headers?.['content-security-policy'], page.csp);
  } finally {
    for (const [k, v] of Object.entries(env))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  }
});

test('page: the script is one minified, self-contained block', () => {
  const script = buildPageScript();
  assert.equal(PAGE_HTML.split(script).length, 2, 'inlined once, as built');
  assert.doesNotMatch(script, /\n/, 'minified');
  assert.doesNotMatch(script, /<\/script|\brequire\(|\bimport\s*[({]/i);
});

test('page: size budget (README "Page weight")', () => {
  const bytes = Buffer.byteLength(PAGE_HTML);
  const gzipped = gzipSync(PAGE_HTML, { level: 9 }).length;
  // Raised from 20,000 and 7,500 for the fifth card, the newest sweep's chart.
  assert.ok(bytes <= 21_000, `the page is ${bytes} bytes`);
  assert.ok(gzipped <= 8_000, `the page is ${gzipped} bytes gzipped`);
});
