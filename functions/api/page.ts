/**
 * The page served at GET /: draw or upload a digit and see the prediction next to the 28x28 image
 * the model saw; the served model's card and the newest training job, with per-epoch loss and
 * accuracy charts, from the public GET /summary (polled every 5 s).
 *
 * One self-contained module: the style and the script are inline and allowed by their SHA-256
 * hashes in PAGE_CSP, so the page needs no asset routes and a strict CSP blocks anything else.
 * The charts are hand-drawn SVG (a chart library would outweigh the rest of the page). Data from
 * the API only ever goes into textContent and attributes, never into markup.
 */
import { createHash } from 'node:crypto';

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

const SCRIPT = /* js */ `
'use strict';
var base = location.pathname.replace(/[/]?$/, '/');
var SVGNS = 'http://www.w3.org/2000/svg';
var $ = function (id) { return document.getElementById(id); };

/* DOM building only: text from the API goes into textContent and attributes. */
function el(tag, attrs, text) {
  var e = document.createElement(tag);
  for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}
function sv(tag, attrs, text) {
  var e = document.createElementNS(SVGNS, tag);
  for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}
function shortId(id) { return id.length > 18 ? id.slice(0, 8) + '\u2026' + id.slice(-6) : id; }
function idSpan(id) { return el('span', { title: id }, shortId(id)); }
function pct(v, digits) { return (v * 100).toFixed(digits === undefined ? 2 : digits) + '%'; }
function lossText(v) { return v < 0.1 ? v.toFixed(4) : v.toFixed(3); }
function when(iso) {
  var d = new Date(iso);
  var t = el('time', { datetime: iso }, d.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' }));
  return t;
}

async function api(path, options) {
  var res = await fetch(base + path, options);
  var body = await res.json().catch(function () { return {}; });
  if (!res.ok) throw new Error(body.error || 'The service answered HTTP ' + res.status + '.');
  return body;
}

/* ---- drawing pad: pointer events cover mouse, pen and touch ---- */
var pad = $('pad');
var ctx = pad.getContext('2d');
var drawing = null;
function blank() { ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, pad.width, pad.height); }
blank();
function at(e) {
  var r = pad.getBoundingClientRect();
  return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
}
pad.addEventListener('pointerdown', function (e) {
  e.preventDefault();
  drawing = e.pointerId;
  pad.setPointerCapture(e.pointerId);
  ctx.lineWidth = 18; ctx.lineCap = 'round'; ctx.lineJoin = 'round'; ctx.strokeStyle = '#000';
  var p = at(e);
  ctx.beginPath(); ctx.moveTo(p[0], p[1]); ctx.lineTo(p[0] + 0.01, p[1]); ctx.stroke();
});
pad.addEventListener('pointermove', function (e) {
  if (drawing !== e.pointerId) return;
  var events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
  for (var i = 0; i < events.length; i++) { var p = at(events[i]); ctx.lineTo(p[0], p[1]); }
  ctx.stroke();
});
function endStroke(e) {
  if (drawing !== e.pointerId) return;
  drawing = null;
  var url = pad.toDataURL('image/png');
  predictImage(url, url);
}
pad.addEventListener('pointerup', endStroke);
pad.addEventListener('pointercancel', endStroke);
$('clear').addEventListener('click', function () {
  blank();
  $('digit').textContent = '?';
  $('confidence').textContent = '';
  $('bars').replaceChildren();
  $('input-img').removeAttribute('src');
  $('seen').getContext('2d').clearRect(0, 0, 28, 28);
  $('error').textContent = '';
});

/* ---- image files: choose or drop ---- */
var MAX_SIDE = 1024;
$('file').addEventListener('change', function (e) { if (e.target.files[0]) useFile(e.target.files[0]); e.target.value = ''; });
var inputCard = $('input-card');
document.addEventListener('dragover', function (e) { e.preventDefault(); inputCard.classList.add('dragging'); });
document.addEventListener('dragleave', function (e) { if (!e.relatedTarget) inputCard.classList.remove('dragging'); });
document.addEventListener('drop', function (e) {
  e.preventDefault();
  inputCard.classList.remove('dragging');
  var f = e.dataTransfer && e.dataTransfer.files[0];
  if (f) useFile(f);
});
function useFile(file) {
  $('error').textContent = '';
  if (!/^image[/](png|jpeg)$/.test(file.type)) { $('error').textContent = 'Choose a PNG or JPEG image (got ' + (file.type || 'an unknown type') + ').'; return; }
  var url = URL.createObjectURL(file);
  var img = new Image();
  img.onload = function () {
    var w = img.naturalWidth, h = img.naturalHeight;
    if (Math.max(w, h) <= MAX_SIDE && file.size < 2e6) {
      var reader = new FileReader();
      reader.onload = function () { predictImage(reader.result, url); };
      reader.readAsDataURL(file);
      return;
    }
    // Phone photos are far bigger than a digit needs: send a copy at most MAX_SIDE wide, well inside the API's limits.
    var s = MAX_SIDE / Math.max(w, h), c = document.createElement('canvas');
    c.width = Math.round(w * s); c.height = Math.round(h * s);
    c.getContext('2d').drawImage(img, 0, 0, c.width, c.height);
    predictImage(file.type === 'image/png' ? c.toDataURL('image/png') : c.toDataURL('image/jpeg', 0.92), url);
  };
  img.onerror = function () { $('error').textContent = 'That file could not be read as an image.'; };
  img.src = url;
}

/* ---- prediction ---- */
var busy = false, queued = null;
async function predictImage(dataUrl, shownUrl) {
  if (busy) { queued = [dataUrl, shownUrl]; return; }
  busy = true;
  $('error').textContent = '';
  $('status').textContent = 'Predicting\u2026';
  try {
    var r = await api('predict?preview=true', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ image: dataUrl }) });
    $('input-img').src = shownUrl;
    showSeen(r.preprocessed);
    $('digit').textContent = String(r.digit);
    $('confidence').textContent = pct(r.probabilities[r.digit], 1) + ' sure';
    var bars = $('bars');
    bars.replaceChildren();
    r.probabilities.forEach(function (p, d) {
      var li = el('li', d === r.digit ? { class: 'top' } : {});
      li.append(el('span', {}, String(d)));
      var track = el('span', { class: 'track', 'aria-hidden': 'true' }), fill = el('span', { class: 'fill' });
      fill.style.display = 'block';
      fill.style.width = (p * 100).toFixed(1) + '%';
      track.append(fill);
      li.append(track, el('span', {}, pct(p, 1)));
      bars.append(li);
    });
    var by = $('by');
    by.replaceChildren('Model ', idSpan(r.model.jobId), ', test accuracy ' + pct(r.model.testAccuracy));
    $('status').textContent = 'Predicted ' + r.digit + ', ' + pct(r.probabilities[r.digit], 1) + ' sure.';
  } catch (e) {
    $('error').textContent = e.message;
    $('status').textContent = '';
  } finally {
    busy = false;
    if (queued) { var q = queued; queued = null; predictImage(q[0], q[1]); }
  }
}
function showSeen(pixels) {
  var c = $('seen').getContext('2d');
  if (!pixels) { c.clearRect(0, 0, 28, 28); return; }
  var img = c.createImageData(28, 28);
  for (var i = 0; i < 784; i++) {
    var v = Math.round(pixels[i] * 255);
    img.data[4 * i] = v; img.data[4 * i + 1] = v; img.data[4 * i + 2] = v; img.data[4 * i + 3] = 255;
  }
  c.putImageData(img, 0, 0);
}

/* ---- charts: hand-drawn SVG, redrawn to the card's width ---- */
/* Decimals that show every multiple of step exactly (0.25 needs 2, 0.5 needs 1, 2 needs 0). */
function decimals(step) {
  var d = 0;
  while (d < 6 && Math.abs(Math.round(step * Math.pow(10, d)) - step * Math.pow(10, d)) > 1e-6) d++;
  return d;
}
function niceStep(span, count) {
  var raw = span / count, mag = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * mag;
}
function drawChart(host, spec) {
  host._spec = spec;
  var width = Math.max(240, Math.round(host.clientWidth || 300)), height = 180;
  var L = 54, R = 12, T = 8, B = 36;
  var n = spec.epochs.length;
  var all = [];
  spec.series.forEach(function (s) { s.values.forEach(function (v) { if (v !== undefined) all.push(v); }); });
  var lo = spec.lo(all), hi = spec.hi(all);
  var step = niceStep(hi - lo || 1, 4);
  lo = Math.floor(lo / step) * step; hi = Math.max(lo + step, Math.ceil(hi / step - 1e-9) * step);
  var x = function (i) { return n <= 1 ? (L + width - R) / 2 : L + i * (width - L - R) / (n - 1); };
  var y = function (v) { return T + (hi - v) * (height - T - B) / (hi - lo); };
  var svg = sv('svg', { viewBox: '0 0 ' + width + ' ' + height, width: width, height: height, role: 'img', tabindex: '0', 'aria-label': spec.title + ' per epoch. Use the left and right arrow keys to read each epoch.' });
  var axis = sv('g', { class: 'axis' });
  for (var k = 0; k <= Math.round((hi - lo) / step); k++) {
    var v = lo + k * step;
    axis.append(sv('line', { x1: L, x2: width - R, y1: y(v), y2: y(v) }));
    axis.append(sv('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, spec.tick(v, step)));
  }
  var every = Math.max(1, Math.ceil(n / Math.max(2, Math.floor((width - L - R) / 34))));
  spec.epochs.forEach(function (e, i) {
    if (i % every === 0 || i === n - 1) axis.append(sv('text', { x: x(i), y: height - B + 16, 'text-anchor': 'middle' }, String(e)));
  });
  axis.append(sv('text', { class: 'label', x: (L + width - R) / 2, y: height - 4, 'text-anchor': 'middle' }, 'epoch'));
  axis.append(sv('text', { class: 'label', transform: 'translate(13 ' + (T + (height - T - B) / 2) + ') rotate(-90)', 'text-anchor': 'middle' }, spec.yLabel));
  svg.append(axis);
  var guide = sv('line', { class: 'guide', y1: T, y2: height - B, visibility: 'hidden' });
  svg.append(guide);
  spec.series.forEach(function (s) {
    var d = '';
    s.values.forEach(function (v, i) { if (v !== undefined) d += (d ? 'L' : 'M') + x(i).toFixed(1) + ' ' + y(v).toFixed(1); });
    if (d) svg.append(sv('path', { class: s.cls, d: d }));
    s.values.forEach(function (v, i) { if (v !== undefined) svg.append(sv('circle', { class: s.cls, cx: x(i), cy: y(v), r: n > 30 ? 2.5 : 3.5 })); });
  });
  var readout = host.querySelector('.readout');
  function show(i) {
    host._at = i;
    guide.setAttribute('x1', x(i)); guide.setAttribute('x2', x(i)); guide.setAttribute('visibility', 'visible');
    readout.textContent = 'Epoch ' + spec.epochs[i] + ': ' + spec.series.map(function (s) {
      return s.name.toLowerCase() + ' ' + (s.values[i] === undefined ? 'n/a' : spec.format(s.values[i]));
    }).join(', ');
  }
  /* One hover band per epoch, so the values show wherever the pointer is over that epoch. */
  spec.epochs.forEach(function (e, i) {
    var half = n <= 1 ? (width - L - R) / 2 : (width - L - R) / (n - 1) / 2;
    var x0 = Math.max(L, x(i) - half), x1 = Math.min(width - R, x(i) + half);
    var band = sv('rect', { x: x0, y: T, width: x1 - x0, height: height - T - B, fill: 'transparent' });
    band.addEventListener('pointerenter', function () { show(i); });
    svg.append(band);
  });
  svg.addEventListener('keydown', function (ev) {
    var i = host._at === undefined ? n - 1 : host._at;
    if (ev.key === 'ArrowRight' || ev.key === 'ArrowUp') i = Math.min(n - 1, i + 1);
    else if (ev.key === 'ArrowLeft' || ev.key === 'ArrowDown') i = Math.max(0, i - 1);
    else if (ev.key === 'Home') i = 0;
    else if (ev.key === 'End') i = n - 1;
    else return;
    ev.preventDefault();
    show(i);
  });
  svg.addEventListener('focus', function () { show(host._at === undefined ? n - 1 : host._at); });
  host.querySelector('svg.plot') && host.querySelector('svg.plot').remove();
  svg.setAttribute('class', 'plot');
  host.insertBefore(svg, readout);
  if (host._at !== undefined && host._at < n) show(host._at);
}
function legendItem(s) {
  var li = el('li');
  var icon = sv('svg', { viewBox: '0 0 28 12', 'aria-hidden': 'true' });
  icon.append(sv('path', { class: s.cls, d: 'M1 6H27' }), sv('circle', { class: s.cls, cx: 14, cy: 6, r: 3.5 }));
  li.append(icon, s.name);
  return li;
}
function chart(title, yLabel, series, opts) {
  var fig = el('figure', { class: 'chart' });
  fig.append(el('figcaption', {}, title));
  var legend = el('ul', { class: 'legend', 'aria-label': title + ' legend' });
  series.forEach(function (s) { legend.append(legendItem(s)); });
  fig.append(legend, el('p', { class: 'readout', 'aria-live': 'polite' }, 'Hover, or focus and use the arrow keys, to read the values.'));
  fig._make = function () {
    return { title: title, yLabel: yLabel, series: series, epochs: opts.epochs, lo: opts.lo, hi: opts.hi, tick: opts.tick, format: opts.format };
  };
  return fig;
}
var charts = new Set();
var resize = new ResizeObserver(function (entries) {
  entries.forEach(function (en) {
    var w = Math.round(en.contentRect.width);
    if (en.target._w !== w) { en.target._w = w; drawChart(en.target, en.target._make()); }
  });
});
function curves(host, metrics) {
  var key = JSON.stringify(metrics);
  if (host._key === key) return;
  host._key = key;
  host.querySelectorAll('.chart').forEach(function (f) { resize.unobserve(f); });
  host.replaceChildren();
  if (!metrics.length) { host.append(el('p', { class: 'muted' }, 'No epoch has finished yet.')); return; }
  var epochs = metrics.map(function (m) { return m.epoch; });
  var pick = function (k) { return metrics.map(function (m) { return typeof m[k] === 'number' ? m[k] : undefined; }); };
  var loss = chart('Loss', 'loss', [{ name: 'Train', cls: 'train', values: pick('loss') }, { name: 'Validation', cls: 'val', values: pick('valLoss') }], {
    epochs: epochs, lo: function () { return 0; }, hi: function (a) { return Math.max.apply(null, a.concat([0.01])); }, tick: function (v, step) { return v.toFixed(decimals(step)); }, format: lossText,
  });
  var acc = chart('Accuracy', 'accuracy (%)', [{ name: 'Train', cls: 'train', values: pick('accuracy') }, { name: 'Validation', cls: 'val', values: pick('valAccuracy') }], {
    epochs: epochs, lo: function (a) { return Math.max(0, Math.min.apply(null, a.concat([1])) - 0.005); }, hi: function () { return 1; }, tick: function (v, step) { return (v * 100).toFixed(decimals(step * 100)); }, format: function (v) { return pct(v); },
  });
  var wrap = el('div', { class: 'charts' });
  wrap.append(loss, acc);
  host.append(wrap);
  [loss, acc].forEach(function (f) { resize.observe(f); });
}

/* ---- served model and newest job, from the public GET /summary ---- */
function facts(rows) {
  var dl = el('dl', { class: 'facts' });
  rows.forEach(function (r) {
    if (!r) return;
    var dd = el('dd');
    dd.append(r[1]);
    dl.append(el('dt', {}, r[0]), dd);
  });
  return dl;
}
function renderModel(m) {
  var host = $('model-facts');
  if (!m) {
    var p = el('p', {}, 'No model is served yet. Train one with ');
    p.append(el('code', {}, 'npx lenet submit --watch'));
    host.replaceChildren(p);
    curves($('model-curves'), []);
    return;
  }
  var acc = el('span', { class: 'big' }, pct(m.testAccuracy));
  host.replaceChildren(facts([
    ['Test accuracy', acc],
    m.testImages ? ['Test images', m.testImages.toLocaleString()] : null,
    ['Job', idSpan(m.jobId)],
    ['Epochs', String(m.epoch)],
    m.trainedAt ? ['Trained', when(m.trainedAt)] : null,
    ['Promoted', when(m.promotedAt)],
  ]));
  curves($('model-curves'), m.metrics);
}
function renderJob(j, servedId) {
  var host = $('job-facts');
  if (!j) { host.replaceChildren(el('p', { class: 'muted' }, 'No training jobs yet.')); curves($('job-curves'), []); return; }
  var total = j.totalEpochs || 0;
  var done = j.status === 'SUCCEEDED' ? 1 : total ? Math.min(1, (j.epoch + (j.progress ? j.progress.batch / j.progress.batches : 0)) / total) : 0;
  var where = 'Epoch ' + (j.progress ? j.progress.epoch : j.epoch) + ' of ' + (total || '?') + (j.progress ? ', batch ' + j.progress.batch + ' of ' + j.progress.batches : '');
  var status = el('span', { class: 'status ' + j.status }, j.status);
  var bar = el('div', { class: 'progress', role: 'progressbar', 'aria-label': 'Training progress', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(Math.round(done * 100)), 'aria-valuetext': Math.round(done * 100) + '%, ' + where });
  var fill = el('div');
  fill.style.width = (done * 100).toFixed(1) + '%';
  bar.append(fill);
  host.replaceChildren(facts([
    ['Job', idSpan(j.jobId)],
    ['Status', status],
    ['Progress', el('span', { id: 'job-where' }, where)],
    j.testAccuracy !== undefined ? ['Test accuracy', pct(j.testAccuracy)] : null,
    ['Started', when(j.createdAt)],
  ]), bar);
  if (j.jobId === servedId) { $('job-curves')._key = undefined; $('job-curves').replaceChildren(el('p', { class: 'muted' }, 'This job made the served model: its curves are above.')); return; }
  curves($('job-curves'), j.metrics);
}
var timer;
async function refresh() {
  clearTimeout(timer);
  try {
    var s = await api('summary');
    renderModel(s.model);
    renderJob(s.newestJob, s.model && s.model.jobId);
    $('summary-error').textContent = '';
  } catch (e) {
    $('summary-error').textContent = 'Could not load the model summary: ' + e.message;
  }
  if (!document.hidden) timer = setTimeout(refresh, 5000);
}
document.addEventListener('visibilitychange', function () { if (!document.hidden) refresh(); });
refresh();
`;

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/** The page's Content-Security-Policy: nothing but its own hashed style and script, and calls to its own origin. */
export const PAGE_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  // blob: shows a chosen file, data: the drawn digit and the favicon.
  "img-src 'self' blob: data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers of GET /. */
export const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': PAGE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export const PAGE_HTML = /* html */ `<!doctype html>
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
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
