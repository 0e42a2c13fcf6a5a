/**
 * The page's script, run in the browser: the drawing pad and image uploads, the prediction with
 * the 28x28 image the model saw, the served-model and newest-job cards with their charts, and the
 * newest sweep's accuracy per variant, from the public GET /summary (polled every 5 s while the tab is visible).
 *
 * build.ts bundles and minifies it at synth time and the page inlines it, allowed by its hash in
 * the CSP. Data from the API only ever goes into textContent and attributes, never into markup.
 * The API's answers are typed by the server's own declarations (type imports, erased).
 */
import type { Prediction } from '../../../shared/digits/predict';
import type { ModelCard, PublicEpoch, PublicJob, PublicSweep, Summary } from '../summary';

/** POST /predict?preview=true with one image. */
interface PredictAnswer extends Prediction {
  preprocessed?: number[];
  model: { jobId: string; testAccuracy: number };
}

const base = location.pathname.replace(/[/]?$/, '/');
const SVGNS = 'http://www.w3.org/2000/svg';
// The ids are the page's own markup (template.ts).
const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;

type Attrs = Record<string, string | number>;

/* DOM building only: text from the API goes into textContent and attributes. */
function el(tag: string, attrs: Attrs = {}, text?: string): HTMLElement {
  const e = document.createElement(tag);
  for (const k in attrs) e.setAttribute(k, String(attrs[k]));
  if (text !== undefined) e.textContent = text;
  return e;
}
function sv(tag: string, attrs: Attrs = {}, text?: string): SVGElement {
  const e = document.createElementNS(SVGNS, tag);
  for (const k in attrs) e.setAttribute(k, String(attrs[k]));
  if (text !== undefined) e.textContent = text;
  return e;
}
const shortId = (id: string): string => (id.length > 18 ? `${id.slice(0, 8)}\u2026${id.slice(-6)}` : id);
const idSpan = (id: string): HTMLElement => el('span', { title: id }, shortId(id));
const pct = (v: number, digits = 2): string => `${(v * 100).toFixed(digits)}%`;
const lossText = (v: number): string => (v < 0.1 ? v.toFixed(4) : v.toFixed(3));
const when = (iso: string): HTMLElement =>
  el('time', { datetime: iso }, new Date(iso).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' }));

async function api<T>(path: string, options?: RequestInit): Promise<T> {
  const res = await fetch(base + path, options);
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error || `The service answered HTTP ${res.status}.`);
  return body as T;
}

/* ---- drawing pad: pointer events cover mouse, pen and touch ---- */
const pad = $<HTMLCanvasElement>('pad');
const ctx = pad.getContext('2d')!;
let drawing: number | null = null;
function blank(): void {
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, pad.width, pad.height);
}
blank();
function at(e: PointerEvent): [number, number] {
  const r = pad.getBoundingClientRect();
  return [((e.clientX - r.left) * pad.width) / r.width, ((e.clientY - r.top) * pad.height) / r.height];
}
pad.addEventListener('pointerdown', (e) => {
  e.preventDefault();
  drawing = e.pointerId;
  pad.setPointerCapture(e.pointerId);
  ctx.lineWidth = 18;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  ctx.strokeStyle = '#000';
  const [x, y] = at(e);
  ctx.beginPath();
  ctx.moveTo(x, y);
  ctx.lineTo(x + 0.01, y);
  ctx.stroke();
});
pad.addEventListener('pointermove', (e) => {
  if (drawing !== e.pointerId) return;
  // Older Safari has no coalesced events.
  for (const ev of e.getCoalescedEvents ? e.getCoalescedEvents() : [e]) ctx.lineTo(...at(ev));
  ctx.stroke();
});
function endStroke(e: PointerEvent): void {
  if (drawing !== e.pointerId) return;
  drawing = null;
  const url = pad.toDataURL('image/png');
  predictImage(url, url);
}
pad.addEventListener('pointerup', endStroke);
pad.addEventListener('pointercancel', endStroke);
$('clear').addEventListener('click', () => {
  blank();
  $('digit').textContent = '?';
  $('confidence').textContent = '';
  $('bars').replaceChildren();
  $('input-img').removeAttribute('src');
  $<HTMLCanvasElement>('seen').getContext('2d')!.clearRect(0, 0, 28, 28);
  $('error').textContent = '';
});

/* ---- image files: choose or drop ---- */
const MAX_SIDE = 1024;
$('file').addEventListener('change', (e) => {
  const input = e.target as HTMLInputElement;
  if (input.files?.[0]) useFile(input.files[0]);
  input.value = '';
});
const inputCard = $('input-card');
document.addEventListener('dragover', (e) => {
  e.preventDefault();
  inputCard.classList.add('dragging');
});
document.addEventListener('dragleave', (e) => {
  if (!e.relatedTarget) inputCard.classList.remove('dragging');
});
document.addEventListener('drop', (e) => {
  e.preventDefault();
  inputCard.classList.remove('dragging');
  const f = e.dataTransfer?.files[0];
  if (f) useFile(f);
});
function useFile(file: File): void {
  $('error').textContent = '';
  if (!/^image[/](png|jpeg)$/.test(file.type)) {
    $('error').textContent = `Choose a PNG or JPEG image (got ${file.type || 'an unknown type'}).`;
    return;
  }
  const url = URL.createObjectURL(file);
  const img = new Image();
  img.onload = () => {
    const w = img.naturalWidth;
    const h = img.naturalHeight;
    if (Math.max(w, h) <= MAX_SIDE && file.size < 2e6) {
      const reader = new FileReader();
      reader.onload = () => predictImage(reader.result as string, url);
      reader.readAsDataURL(file);
      return;
    }
    // Phone photos are far bigger than a digit needs: send a copy at most MAX_SIDE wide, well inside the API's limits.
    const s = MAX_SIDE / Math.max(w, h);
    const c = document.createElement('canvas');
    c.width = Math.round(w * s);
    c.height = Math.round(h * s);
    c.getContext('2d')!.drawImage(img, 0, 0, c.width, c.height);
    predictImage(file.type === 'image/png' ? c.toDataURL('image/png') : c.toDataURL('image/jpeg', 0.92), url);
  };
  img.onerror = () => {
    $('error').textContent = 'That file could not be read as an image.';
  };
  img.src = url;
}

/* ---- prediction ---- */
let busy = false;
let queued: [string, string] | null = null;
async function predictImage(dataUrl: string, shownUrl: string): Promise<void> {
  if (busy) {
    queued = [dataUrl, shownUrl];
    return;
  }
  busy = true;
  $('error').textContent = '';
  $('status').textContent = 'Predicting\u2026';
  try {
    const r = await api<PredictAnswer>('predict?preview=true', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ image: dataUrl }),
    });
    $<HTMLImageElement>('input-img').src = shownUrl;
    showSeen(r.preprocessed);
    $('digit').textContent = String(r.digit);
    $('confidence').textContent = `${pct(r.probabilities[r.digit], 1)} sure`;
    const bars = $('bars');
    bars.replaceChildren();
    r.probabilities.forEach((p, d) => {
      const li = el('li', d === r.digit ? { class: 'top' } : {});
      li.append(el('span', {}, String(d)));
      const track = el('span', { class: 'track', 'aria-hidden': 'true' });
      const fill = el('span', { class: 'fill' });
      fill.style.display = 'block';
      fill.style.width = `${(p * 100).toFixed(1)}%`;
      track.append(fill);
      li.append(track, el('span', {}, pct(p, 1)));
      bars.append(li);
    });
    $('by').replaceChildren('Model ', idSpan(r.model.jobId), `, test accuracy ${pct(r.model.testAccuracy)}`);
    $('status').textContent = `Predicted ${r.digit}, ${pct(r.probabilities[r.digit], 1)} sure.`;
  } catch (e) {
    $('error').textContent = (e as Error).message;
    $('status').textContent = '';
  } finally {
    busy = false;
    if (queued) {
      const q = queued;
      queued = null;
      predictImage(q[0], q[1]);
    }
  }
}
function showSeen(pixels: number[] | undefined): void {
  const c = $<HTMLCanvasElement>('seen').getContext('2d')!;
  if (!pixels) {
    c.clearRect(0, 0, 28, 28);
    return;
  }
  const img = c.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const v = Math.round(pixels[i] * 255);
    img.data[4 * i] = v;
    img.data[4 * i + 1] = v;
    img.data[4 * i + 2] = v;
    img.data[4 * i + 3] = 255;
  }
  c.putImageData(img, 0, 0);
}

/* ---- charts: hand-drawn SVG, redrawn to the card's width ---- */
interface Series {
  name: string;
  cls?: 'train' | 'val';
  /** A sweep variant's own colour (and dash, past the palette), instead of a class. */
  color?: string;
  dash?: boolean;
  values: (number | undefined)[];
}
/* Hues a golden angle apart stay distinct for any count; past eight, variants are dashed as well. */
const hue = (i: number): string => `hsl(${Math.round(i * 137.5) % 360} 70% 40%)`;
const look = (s: Series, line: boolean): Attrs =>
  s.color
    ? line
      ? { stroke: s.color, fill: 'none', 'stroke-width': 2, ...(s.dash ? { 'stroke-dasharray': '6 4' } : {}) }
      : { fill: s.color }
    : { class: s.cls! };
interface ChartSpec {
  title: string;
  yLabel: string;
  series: Series[];
  epochs: number[];
  lo: (all: number[]) => number;
  hi: (all: number[]) => number;
  tick: (v: number, step: number) => string;
  format: (v: number) => string;
}
/** A chart's figure, what it shows, and the state kept across redraws. */
interface Chart {
  fig: HTMLElement;
  spec: ChartSpec;
  /** The epoch being read out, if any. */
  at?: number;
  /** The width it was last drawn at. */
  width?: number;
}
const chartOf = new WeakMap<Element, Chart>();

/* Decimals that show every multiple of step exactly (0.25 needs 2, 0.5 needs 1, 2 needs 0). */
function decimals(step: number): number {
  let d = 0;
  while (d < 6 && Math.abs(Math.round(step * 10 ** d) - step * 10 ** d) > 1e-6) d++;
  return d;
}
function niceStep(span: number, count: number): number {
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * mag;
}
function drawChart(chart: Chart): void {
  const { fig: host, spec } = chart;
  const width = Math.max(240, Math.round(host.clientWidth || 300));
  const height = 180;
  const [L, R, T, B] = [54, 12, 8, 36];
  const n = spec.epochs.length;
  const all = spec.series.flatMap((s) => s.values.filter((v): v is number => v !== undefined));
  let lo = spec.lo(all);
  let hi = spec.hi(all);
  const step = niceStep(hi - lo || 1, 4);
  lo = Math.floor(lo / step) * step;
  hi = Math.max(lo + step, Math.ceil(hi / step - 1e-9) * step);
  const x = (i: number) => (n <= 1 ? (L + width - R) / 2 : L + (i * (width - L - R)) / (n - 1));
  const y = (v: number) => T + ((hi - v) * (height - T - B)) / (hi - lo);
  const svg = sv('svg', {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: 'img',
    tabindex: '0',
    'aria-label': `${spec.title} per epoch. Use the left and right arrow keys to read each epoch.`,
  });
  const axis = sv('g', { class: 'axis' });
  for (let k = 0; k <= Math.round((hi - lo) / step); k++) {
    const v = lo + k * step;
    axis.append(sv('line', { x1: L, x2: width - R, y1: y(v), y2: y(v) }));
    axis.append(sv('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, spec.tick(v, step)));
  }
  const every = Math.max(1, Math.ceil(n / Math.max(2, Math.floor((width - L - R) / 34))));
  spec.epochs.forEach((e, i) => {
    if (i % every === 0 || i === n - 1) axis.append(sv('text', { x: x(i), y: height - B + 16, 'text-anchor': 'middle' }, String(e)));
  });
  axis.append(sv('text', { class: 'label', x: (L + width - R) / 2, y: height - 4, 'text-anchor': 'middle' }, 'epoch'));
  axis.append(
    sv(
      'text',
      { class: 'label', transform: `translate(13 ${T + (height - T - B) / 2}) rotate(-90)`, 'text-anchor': 'middle' },
      spec.yLabel,
    ),
  );
  svg.append(axis);
  const guide = sv('line', { class: 'guide', y1: T, y2: height - B, visibility: 'hidden' });
  svg.append(guide);
  for (const s of spec.series) {
    let d = '';
    s.values.forEach((v, i) => {
      if (v !== undefined) d += `${d ? 'L' : 'M'}${x(i).toFixed(1)} ${y(v).toFixed(1)}`;
    });
    if (d) svg.append(sv('path', { ...look(s, true), d }));
    s.values.forEach((v, i) => {
      if (v !== undefined) svg.append(sv('circle', { ...look(s, false), cx: x(i), cy: y(v), r: n > 30 ? 2.5 : 3.5 }));
    });
  }
  const readout = host.querySelector('.readout')!;
  function show(i: number): void {
    chart.at = i;
    guide.setAttribute('x1', String(x(i)));
    guide.setAttribute('x2', String(x(i)));
    guide.setAttribute('visibility', 'visible');
    const values = spec.series.map((s) => {
      const v = s.values[i];
      return `${s.color ? `${s.name}:` : s.name.toLowerCase()} ${v === undefined ? 'n/a' : spec.format(v)}`;
    });
    readout.textContent = `Epoch ${spec.epochs[i]}: ${values.join(spec.series[0]?.color ? '; ' : ', ')}`;
  }
  /* One hover band per epoch, so the values show wherever the pointer is over that epoch. */
  spec.epochs.forEach((_e, i) => {
    const half = n <= 1 ? (width - L - R) / 2 : (width - L - R) / (n - 1) / 2;
    const x0 = Math.max(L, x(i) - half);
    const x1 = Math.min(width - R, x(i) + half);
    const band = sv('rect', { x: x0, y: T, width: x1 - x0, height: height - T - B, fill: 'transparent' });
    band.addEventListener('pointerenter', () => show(i));
    svg.append(band);
  });
  svg.addEventListener('keydown', (ev) => {
    let i = chart.at ?? n - 1;
    if (ev.key === 'ArrowRight' || ev.key === 'ArrowUp') i = Math.min(n - 1, i + 1);
    else if (ev.key === 'ArrowLeft' || ev.key === 'ArrowDown') i = Math.max(0, i - 1);
    else if (ev.key === 'Home') i = 0;
    else if (ev.key === 'End') i = n - 1;
    else return;
    ev.preventDefault();
    show(i);
  });
  svg.addEventListener('focus', () => show(chart.at ?? n - 1));
  host.querySelector('svg.plot')?.remove();
  svg.setAttribute('class', 'plot');
  host.insertBefore(svg, readout);
  if (chart.at !== undefined && chart.at < n) show(chart.at);
}
function legendItem(s: Series): HTMLElement {
  const li = el('li');
  const icon = sv('svg', { viewBox: '0 0 28 12', 'aria-hidden': 'true' });
  icon.append(sv('path', { ...look(s, true), d: 'M1 6H27' }), sv('circle', { ...look(s, false), cx: 14, cy: 6, r: 3.5 }));
  li.append(icon, s.name);
  return li;
}
function chartFigure(spec: ChartSpec): HTMLElement {
  const fig = el('figure', { class: 'chart' });
  fig.append(el('figcaption', {}, spec.title));
  const legend = el('ul', { class: 'legend', 'aria-label': `${spec.title} legend` });
  for (const s of spec.series) legend.append(legendItem(s));
  fig.append(legend, el('p', { class: 'readout', 'aria-live': 'polite' }, 'Hover, or focus and use the arrow keys, to read the values.'));
  chartOf.set(fig, { fig, spec });
  return fig;
}
const resize = new ResizeObserver((entries) => {
  for (const en of entries) {
    const chart = chartOf.get(en.target);
    const w = Math.round(en.contentRect.width);
    if (chart && chart.width !== w) {
      chart.width = w;
      drawChart(chart);
    }
  }
});
/** The metrics each curves host shows, so a poll with nothing new redraws nothing. */
const shownMetrics = new WeakMap<Element, string>();
function curves(host: HTMLElement, metrics: PublicEpoch[]): void {
  const key = JSON.stringify(metrics);
  if (shownMetrics.get(host) === key) return;
  shownMetrics.set(host, key);
  host.querySelectorAll('.chart').forEach((f) => resize.unobserve(f));
  host.replaceChildren();
  if (!metrics.length) {
    host.append(el('p', { class: 'muted' }, 'No epoch has finished yet.'));
    return;
  }
  const epochs = metrics.map((m) => m.epoch);
  const pick = (k: 'loss' | 'accuracy' | 'valLoss' | 'valAccuracy') => metrics.map((m) => (typeof m[k] === 'number' ? m[k] : undefined));
  const loss = chartFigure({
    title: 'Loss',
    yLabel: 'loss',
    series: [
      { name: 'Train', cls: 'train', values: pick('loss') },
      { name: 'Validation', cls: 'val', values: pick('valLoss') },
    ],
    epochs,
    lo: () => 0,
    hi: (a) => Math.max(...a, 0.01),
    tick: (v, step) => v.toFixed(decimals(step)),
    format: lossText,
  });
  const acc = accuracyChart(
    'Accuracy',
    [
      { name: 'Train', cls: 'train', values: pick('accuracy') },
      { name: 'Validation', cls: 'val', values: pick('valAccuracy') },
    ],
    epochs,
  );
  const wrap = el('div', { class: 'charts' });
  wrap.append(loss, acc);
  host.append(wrap);
  resize.observe(loss);
  resize.observe(acc);
}
function accuracyChart(title: string, series: Series[], epochs: number[]): HTMLElement {
  return chartFigure({
    title,
    yLabel: 'accuracy (%)',
    series,
    epochs,
    lo: (a) => Math.max(0, Math.min(...a, 1) - 0.005),
    hi: () => 1,
    tick: (v, step) => (v * 100).toFixed(decimals(step * 100)),
    format: (v) => pct(v),
  });
}

/* ---- the newest sweep: one accuracy curve per variant, on one chart ---- */
function renderSweep(w: PublicSweep | null): void {
  const host = $('sweep-curves');
  const key = JSON.stringify(w);
  if (shownMetrics.get(host) === key) return;
  shownMetrics.set(host, key);
  host.querySelectorAll('.chart').forEach((f) => resize.unobserve(f));
  host.replaceChildren();
  if (!w) {
    $('sweep-facts').replaceChildren(el('p', { class: 'muted' }, 'No sweeps yet.'));
    return;
  }
  const counts: Record<string, number> = {};
  for (const v of w.variants) counts[v.status] = (counts[v.status] || 0) + 1;
  $('sweep-facts').replaceChildren(
    facts([
      ['Sweep', idSpan(w.sweepId)],
      [
        'Jobs',
        Object.entries(counts)
          .map(([s, n]) => `${n} ${s}`)
          .join(', '),
      ],
      w.cancelled ? ['Cancelled', 'nothing of it is promoted'] : null,
    ]),
  );
  const n = Math.max(0, ...w.variants.map((v) => v.accuracy.length));
  if (!n) {
    host.append(el('p', { class: 'muted' }, 'No epoch has finished yet.'));
    return;
  }
  const chart = accuracyChart(
    w.metric === 'valAccuracy' ? 'Validation accuracy per variant' : 'Accuracy per variant',
    w.variants.map((v, i) => ({
      name: v.label,
      color: hue(i),
      dash: i >= 8,
      values: Array.from({ length: n }, (_x, e) => v.accuracy[e] ?? undefined),
    })),
    Array.from({ length: n }, (_x, e) => e + 1),
  );
  const wrap = el('div', { class: 'charts' });
  wrap.append(chart);
  host.append(wrap);
  resize.observe(chart);
}

/* ---- served model and newest job, from the public GET /summary ---- */
type Fact = [string, Node | string] | null;
function facts(rows: Fact[]): HTMLElement {
  const dl = el('dl', { class: 'facts' });
  for (const r of rows) {
    if (!r) continue;
    const dd = el('dd');
    dd.append(r[1]);
    dl.append(el('dt', {}, r[0]), dd);
  }
  return dl;
}
/** When the served model last changed, and how: a rollback or an override says so. */
function changed(c: ModelCard['lastChange']): Fact {
  const value = el('span');
  value.append(when(c.at));
  if (c.fromJobId) value.append(', replacing ', idSpan(c.fromJobId));
  return [c.why === 'rollback' ? 'Rolled back' : c.why === 'forced' ? 'Promoted (forced)' : 'Promoted', value];
}
function renderModel(m: ModelCard | null): void {
  const host = $('model-facts');
  if (!m) {
    const p = el('p', {}, 'No model is served yet. Train one with ');
    p.append(el('code', {}, 'npx lenet submit --watch'));
    host.replaceChildren(p);
    curves($('model-curves'), []);
    return;
  }
  host.replaceChildren(
    facts([
      ['Test accuracy', el('span', { class: 'big' }, pct(m.testAccuracy))],
      m.testImages ? ['Test images', m.testImages.toLocaleString()] : null,
      ['Job', idSpan(m.jobId)],
      ['Epochs', String(m.epoch)],
      m.trainedAt ? ['Trained', when(m.trainedAt)] : null,
      changed(m.lastChange),
    ]),
  );
  curves($('model-curves'), m.metrics);
}
function renderJob(j: PublicJob | null, servedId: string | undefined): void {
  const host = $('job-facts');
  const jobCurves = $('job-curves');
  if (!j) {
    host.replaceChildren(el('p', { class: 'muted' }, 'No training jobs yet.'));
    curves(jobCurves, []);
    return;
  }
  const total = j.totalEpochs || 0;
  const inEpoch = j.progress ? j.progress.batch / j.progress.batches : 0;
  const done = j.status === 'SUCCEEDED' ? 1 : total ? Math.min(1, (j.epoch + inEpoch) / total) : 0;
  const where = `Epoch ${j.progress ? j.progress.epoch : j.epoch} of ${total || '?'}${j.progress ? `, batch ${j.progress.batch} of ${j.progress.batches}` : ''}`;
  const bar = el('div', {
    class: 'progress',
    role: 'progressbar',
    'aria-label': 'Training progress',
    'aria-valuemin': '0',
    'aria-valuemax': '100',
    'aria-valuenow': String(Math.round(done * 100)),
    'aria-valuetext': `${Math.round(done * 100)}%, ${where}`,
  });
  const fill = el('div');
  fill.style.width = `${(done * 100).toFixed(1)}%`;
  bar.append(fill);
  host.replaceChildren(
    facts([
      ['Job', idSpan(j.jobId)],
      ['Status', el('span', { class: `status ${j.status}` }, j.status)],
      ['Progress', el('span', { id: 'job-where' }, where)],
      j.testAccuracy !== undefined ? ['Test accuracy', pct(j.testAccuracy)] : null,
      ['Started', when(j.createdAt)],
    ]),
    bar,
  );
  if (j.jobId === servedId) {
    shownMetrics.delete(jobCurves);
    jobCurves.replaceChildren(el('p', { class: 'muted' }, 'This job made the served model: its curves are above.'));
    return;
  }
  curves(jobCurves, j.metrics);
}
let timer: ReturnType<typeof setTimeout> | undefined;
async function refresh(): Promise<void> {
  clearTimeout(timer);
  try {
    const s = await api<Summary>('summary');
    renderModel(s.model);
    renderJob(s.newestJob, s.model?.jobId);
    renderSweep(s.newestSweep);
    $('summary-error').textContent = '';
  } catch (e) {
    $('summary-error').textContent = `Could not load the model summary: ${(e as Error).message}`;
  }
  if (!document.hidden) timer = setTimeout(refresh, 5000);
}
document.addEventListener('visibilitychange', () => {
  if (!document.hidden) refresh();
});
refresh();
