/**
 * The Content-Security-Policy of the page (GET /). The page's own inline <script> and <style>
 * blocks are allowed by their SHA-256 hashes, computed from the HTML that is served, so editing
 * the page needs no change here; anything else inline (injected markup, inline handlers) and every
 * other origin are refused. Adjust PAGE_CSP_BASE if the page needs more (e.g. an image source).
 */
import { createHash } from 'node:crypto';

export const PAGE_CSP_BASE = {
  'default-src': ["'none'"],
  // fetch() to this same API: predictions and the public summary.
  'connect-src': ["'self'"],
  'img-src': ["'self'", 'data:'],
  'base-uri': ["'none'"],
  'form-action': ["'none'"],
  'frame-ancestors': ["'none'"],
} as const;

const hashes = (html: string, tag: 'script' | 'style') =>
  [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map(
    (m) => `'sha256-${createHash('sha256').update(m[1], 'utf8').digest('base64')}'`,
  );

/** The Content-Security-Policy header value for a page's HTML. */
export function pageCsp(html: string): string {
  const policy: Record<string, readonly string[]> = {
    ...PAGE_CSP_BASE,
    'script-src': hashes(html, 'script'),
    'style-src': hashes(html, 'style'),
  };
  return Object.entries(policy)
    .map(([k, v]) => `${k} ${v.length ? v.join(' ') : "'none'"}`)
    .join('; ');
}
