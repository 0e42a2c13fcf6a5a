/**
 * The page served at GET /: draw or upload a digit and see the prediction next to the 28x28 image
 * the model saw; the served model's card and the newest training job, with per-epoch loss and
 * accuracy charts, from the public GET /summary (polled every 5 s).
 *
 * The page is built at synth time (web/build.ts: the script web/browser.ts, the markup and style
 * web/template.ts) and reaches the api function's bundle as two string constants, so its CSP
 * hashes are of the exact bytes served and the Lambda only sends them.
 */
import { createRequire } from 'node:module';
import type { Page } from './web/template';

// esbuild defines, set by infra/service-api.ts (pageDefines in web/build.ts).
declare const LENET_PAGE_HTML: string | undefined;
declare const LENET_PAGE_CSP: string | undefined;

const page: Page =
  typeof LENET_PAGE_HTML === 'string' && typeof LENET_PAGE_CSP === 'string'
    ? { html: LENET_PAGE_HTML, csp: LENET_PAGE_CSP }
    : // Run from source (tests, tsx): build it the same way. The bundle drops this branch, and esbuild with it.
      (createRequire(import.meta.url)('./web/build.ts') as typeof import('./web/build')).buildPage();

/** The page's Content-Security-Policy: nothing but its own hashed style and script, and calls to its own origin. */
export const PAGE_CSP = page.csp;

/** Headers of GET /. */
export const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': PAGE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export const PAGE_HTML = page.html;
