/**
 * Builds the page at synth time: esbuild bundles and minifies browser.ts, template.ts inlines it
 * and hashes it for the CSP. infra/service-api.ts puts the result into the api function's bundle
 * as string constants (pageDefines), so the Lambda serves fixed bytes and never runs esbuild.
 */
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { renderPage, type Page } from './template';

/** The browser script, bundled and minified. */
export function buildPageScript(): string {
  const out = buildSync({
    entryPoints: [fileURLToPath(new URL('./browser.ts', import.meta.url))],
    bundle: true,
    minify: true,
    format: 'iife',
    // The script needs replaceChildren (Chrome 86, Safari 14, Firefox 78), so ES2020 lowers nothing it runs on.
    target: 'es2020',
    platform: 'browser',
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
  });
  return out.outputFiles[0].text.trimEnd();
}

export function buildPage(): Page {
  return renderPage(buildPageScript());
}

/** esbuild `define`s of the api function's bundle: the page that functions/api/page.ts serves. */
export function pageDefines(page: Page = buildPage()): Record<string, string> {
  return { LENET_PAGE_HTML: JSON.stringify(page.html), LENET_PAGE_CSP: JSON.stringify(page.csp) };
}
