/**
 * The page's markup and style, and its Content-Security-Policy for a given script: run by build.ts
 * at synth time, never in the Lambda. The style and the script are inline and allowed by their
 * SHA-256 hashes, so the page needs no asset routes and a strict CSP blocks anything else. The
 * charts are hand-drawn SVG (a chart library would outweigh the rest of the page).
 */
import { createHash } from 'node:crypto';

/** What GET / serves: the HTML, and the CSP that allows exactly its inline style and script. */
export interface Page {
  html: string;
  csp: string;
}

const STYLE = /* css */ `
:root { --ink: #1a1c20; --muted: #4f5561; --line: #d9dde3; --bg: #f3f4f7; --card: #fff; --accent: #1f5fbf; --val: #b34700; --good: #1a7f45; --bad: #b3261e; }
* { box-sizing: border-box; }
body { font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: var(--ink); background: var(--bg); }
header { padding: 16px 16px 4px; max-width: 1240px; margin: 0 auto; }
h1 { font-size: 22px; margin: 0; }
header p { margin: 2px 0 0; color: var(--muted); }
main { display: grid; gap: 16px; padding: 12px 16px 24px; max-width: 1240px; margin: 0 auto; grid-template-columns: minmax(0, 1fr); }
@media (min-width: 760px) { main { grid-template-columns: repeat(2, minmax(0, 1fr)); } }
.card { background: var(--card); border-radius: 10px; padding: 16px; box-shadow: 0 1px 3px #0002; min-width: 0; }
h2 { font-size: 17px; margin: 0 0 10px; }
h3 { font-size: 15px; margin: 14px 0 4px; }
.muted { color: var(--muted); font-size: 14px; }
#pad { display: block; width: min(280px, 100%); height: auto; aspect-ratio: 1; border: 2px solid #8a919c; border-radius: 6px; background: #fff; touch-action: none; cursor: crosshair; }
#pad:focus-visible, button:focus-visible, .button:focus-within, .chart svg.plot:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.buttons { display: flex; flex-wrap: wrap; gap: 8px; margin-top: 10px; }
button, .button { font: inherit; font-size: 15px; padding: 8px 14px; border-radius: 6px; border: 1px solid #8a919c; background: #fff; color: var(--ink); cursor: pointer; min-height: 40px; }
button:hover, .button:hover { background: #eef2f8; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.drop { margin-top: 10px; padding: 10px; border: 2px dashed #8a919c; border-radius: 8px; color: var(--muted); font-size: 14px; text-align: center; }
.dragging .drop { border-color: var(--accent); background: #eef4ff; color: var(--ink); }
#error { color: var(--bad); min-height: 1.45em; margin: 8px 0 0; }
.seen { display: flex; align-items: flex-start; gap: 12px; flex-wrap: wrap; }
.seen figure { margin: 0; width: 112px; }
.seen img:not([src]) { visibility: hidden; }
.seen img, .seen canvas { display: block; width: 112px; height: 112px; border: 1px solid var(--line); border-radius: 4px; object-fit: contain; background: #fff; }
#seen { image-rendering: pixelated; background: #000; }
figcaption { font-size: 13px; color: var(--muted); margin-top: 4px; }
.arrow { align-self: center; font-size: 22px; color: var(--muted); }
.answer { display: flex; align-items: baseline; gap: 10px; margin: 10px 0 6px; }
#digit { font-size: 56px; font-weight: 700; line-height: 1; }
#bars { list-style: none; padding: 0; margin: 0; }
#bars li { display: grid; grid-template-columns: 1.2em minmax(0, 1fr) 4.2em; align-items: center; gap: 8px; font-size: 14px; font-variant-numeric: tabular-nums; }
.track { height: 12px; background: #e8ebf0; border-radius: 3px; overflow: hidden; }
.fill { height: 100%; background: var(--accent); }
#bars li.top { font-weight: 700; }
#bars li.top .fill { background: var(--good); }
#bars li span:last-child { text-align: right; }
dl.facts { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 4px 12px; margin: 0; align-items: baseline; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.big { font-size: 28px; font-weight: 700; }
.status { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 13px; font-weight: 600; background: #e8ebf0; }
.status.RUNNING { background: #dbe8ff; color: #123f82; }
.status.SUCCEEDED { background: #d9f2e3; color: #0f5130; }
.status.FAILED { background: #fbe0de; color: #8a1c15; }
.progress { height: 14px; background: #e8ebf0; border-radius: 7px; overflow: hidden; margin: 8px 0 4px; }
.progress > div { height: 100%; background: var(--accent); transition: width 0.4s; }
.charts { display: grid; gap: 12px; grid-template-columns: minmax(0, 1fr); margin-top: 14px; }
.chart { margin: 0; min-width: 0; }
.chart figcaption { font-size: 14px; color: var(--ink); font-weight: 600; margin: 0 0 2px; }
.chart svg.plot { display: block; width: 100%; height: auto; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; list-style: none; padding: 0; margin: 0 0 2px; font-size: 13px; color: var(--muted); }
.legend svg { display: inline-block; width: 28px; height: 12px; vertical-align: middle; margin-right: 4px; }
.readout { font-size: 13px; color: var(--muted); margin: 2px 0 0; min-height: 1.45em; font-variant-numeric: tabular-nums; }
.axis text { font-size: 11px; fill: var(--muted); }
.axis line { stroke: var(--line); }
.axis .label { font-size: 12px; fill: var(--ink); }
.train { stroke: var(--accent); fill: var(--accent); }
.val { stroke: var(--val); fill: #fff; }
path.train, path.val { fill: none; stroke-width: 2; }
path.val { stroke-dasharray: 6 4; }
circle.train, circle.val { stroke-width: 2; }
.guide { stroke: #8a919c; stroke-width: 1; }
.note { font-size: 14px; color: var(--muted); border-top: 1px solid var(--line); margin: 14px 0 0; padding-top: 10px; }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, monospace; background: #eef0f3; padding: 1px 4px; border-radius: 4px; overflow-wrap: anywhere; }
`;

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/** The page with `script` inline, and its CSP: nothing but its own hashed style and script, and calls to its own origin. */
export function renderPage(script: string): Page {
  // A script that closed its own element would end it early and run the rest as markup.
  if (/<\/script/i.test(script)) throw new Error('the page script contains </script');
  const csp = [
    "default-src 'none'",
    `script-src ${sha256(script)}`,
    `style-src ${sha256(STYLE)}`,
    // blob: shows a chosen file, data: the drawn digit and the favicon.
    "img-src 'self' blob: data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  const html = /* html */ `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>LeNet-5 reads your handwriting</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header>
  <h1>LeNet-5 reads your handwriting</h1>
  <p>A small convolutional network trained on the MNIST digits. Draw a digit, or drop a photo of one.</p>
</header>
<main>
  <section class="card" id="input-card" aria-labelledby="input-h">
    <h2 id="input-h">Draw or upload a digit</h2>
    <canvas id="pad" width="280" height="280" role="img" aria-label="Drawing pad: draw one digit with a mouse, pen or finger; it is read when you lift it"></canvas>
    <div class="buttons">
      <button id="clear" type="button">Clear</button>
      <label class="button" for="file">Choose an image&hellip;<input id="file" class="visually-hidden" type="file" accept="image/png,image/jpeg"></label>
    </div>
    <div class="drop" id="drop">or drop a PNG or JPEG here</div>
    <p id="error" role="alert"></p>
  </section>
  <section class="card" id="result-card" aria-labelledby="result-h">
    <h2 id="result-h">Prediction</h2>
    <div class="seen">
      <figure><img id="input-img" alt="Your digit"><figcaption>Your digit</figcaption></figure>
      <span class="arrow" aria-hidden="true">&rarr;</span>
      <figure><canvas id="seen" width="28" height="28" role="img" aria-label="The 28 by 28 pixel image the model saw after MNIST preprocessing"></canvas><figcaption>What the model saw (28&times;28)</figcaption></figure>
    </div>
    <div class="answer"><span id="digit" data-testid="digit" aria-hidden="true">?</span><span id="confidence" class="muted"></span></div>
    <p id="status" class="visually-hidden" aria-live="polite"></p>
    <ol id="bars" aria-label="Probability of each digit"></ol>
    <p id="by" class="muted"></p>
  </section>
  <section class="card" id="model-card" aria-labelledby="model-h">
    <h2 id="model-h">Served model</h2>
    <div id="model-facts"><p class="muted">Loading&hellip;</p></div>
    <div id="model-curves"></div>
    <p id="summary-error" role="status"></p>
  </section>
  <section class="card" id="job-card" aria-labelledby="job-h">
    <h2 id="job-h">Newest training job</h2>
    <div id="job-facts"><p class="muted">Loading&hellip;</p></div>
    <div id="job-curves"></div>
    <p class="note">Job details (parameters, errors, the full list) need AWS credentials: <code>npx lenet jobs</code></p>
  </section>
  <section class="card" id="sweep-card" aria-labelledby="sweep-h">
    <h2 id="sweep-h">Newest sweep</h2>
    <div id="sweep-facts"><p class="muted">Loading&hellip;</p></div>
    <div id="sweep-curves"></div>
  </section>
</main>
<script>${script}</script>
</body>
</html>
`;
  return { html, csp };
}
