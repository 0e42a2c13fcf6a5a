/**
 * The page served at GET /: draw a digit and see the prediction with probability bars, beside the
 * training jobs with their status and per-epoch loss and accuracy. No external scripts or fonts,
 * so it works offline and needs no CSP exceptions.
 */
export const PAGE_HTML = /* html */ `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>LeNet-5 MNIST</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0; padding: 16px; color: #222; background: #f6f7f9; }
  h1 { font-size: 20px; margin: 0 0 12px; }
  .row { display: flex; flex-wrap: wrap; gap: 16px; }
  .card { background: #fff; border-radius: 8px; padding: 16px; box-shadow: 0 1px 3px #0002; }
  canvas#pad { border: 1px solid #999; border-radius: 4px; touch-action: none; cursor: crosshair; background: #fff; }
  button { font: inherit; padding: 6px 14px; margin-right: 8px; }
  #digit { font-size: 64px; font-weight: 700; text-align: center; min-height: 80px; }
  .bar { display: flex; align-items: center; gap: 6px; margin: 2px 0; }
  .bar span { width: 14px; text-align: right; }
  .bar div { height: 14px; background: #3b7ddd; border-radius: 2px; }
  .bar.top div { background: #1a9e4b; }
  table { border-collapse: collapse; }
  td, th { padding: 4px 8px; border-bottom: 1px solid #eee; text-align: left; }
  tr.job { cursor: pointer; }
  tr.job:hover { background: #f0f4ff; }
  #error { color: #b00020; min-height: 1.4em; }
  .muted { color: #777; font-size: 13px; }
</style>
</head>
<body>
<h1>LeNet-5 on MNIST</h1>
<div class="row">
  <div class="card">
    <canvas id="pad" width="280" height="280" aria-label="drawing pad"></canvas>
    <div><button id="predict">Predict</button><button id="clear">Clear</button></div>
    <div id="error" role="alert"></div>
  </div>
  <div class="card" style="min-width: 220px">
    <div class="muted">Prediction</div>
    <div id="digit" data-testid="digit">?</div>
    <div id="bars"></div>
    <div id="model" class="muted"></div>
  </div>
  <div class="card" style="flex: 1; min-width: 320px">
    <div class="muted">Training jobs (click one for its curves)</div>
    <table id="jobs"><thead><tr><th>job</th><th>status</th><th>epoch</th><th>test acc</th></tr></thead><tbody></tbody></table>
    <svg id="plot" width="420" height="200" role="img" aria-label="loss and accuracy per epoch"></svg>
  </div>
</div>
<script>
const base = location.pathname.replace(/\\/?$/, '/');
const pad = document.getElementById('pad');
const ctx = pad.getContext('2d');
function clearPad() {
  ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, pad.width, pad.height);
  document.getElementById('digit').textContent = '?';
  document.getElementById('bars').innerHTML = '';
}
clearPad();
ctx.lineWidth = 18; ctx.lineCap = 'round'; ctx.lineJoin = 'round'; ctx.strokeStyle = '#000';
let drawing = false;
function point(e) { const r = pad.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; }
pad.addEventListener('pointerdown', (e) => { drawing = true; pad.setPointerCapture(e.pointerId); ctx.beginPath(); ctx.moveTo(...point(e)); ctx.lineTo(...point(e)); ctx.stroke(); });
pad.addEventListener('pointermove', (e) => { if (drawing) { ctx.lineTo(...point(e)); ctx.stroke(); } });
pad.addEventListener('pointerup', () => { drawing = false; predict(); });
document.getElementById('clear').onclick = clearPad;
document.getElementById('predict').onclick = predict;

async function api(path, options) {
  const res = await fetch(base + path, options);
  const body = await res.json().catch(() => ({ error: 'HTTP ' + res.status }));
  if (!res.ok) throw new Error(body.error || 'HTTP ' + res.status);
  return body;
}

async function predict() {
  const error = document.getElementById('error');
  error.textContent = '';
  try {
    const image = pad.toDataURL('image/png');
    const r = await api('predict', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ image }) });
    document.getElementById('digit').textContent = r.digit;
    document.getElementById('bars').innerHTML = r.probabilities.map((p, d) =>
      '<div class="bar' + (d === r.digit ? ' top' : '') + '"><span>' + d + '</span><div style="width:' + Math.round(p * 160) + 'px"></div>' + (p * 100).toFixed(1) + '%</div>').join('');
    document.getElementById('model').textContent = 'model ' + r.model.jobId + ' (test acc ' + (r.model.testAccuracy * 100).toFixed(2) + '%)';
  } catch (e) { error.textContent = e.message; }
}

async function loadJobs() {
  try {
    const { jobs } = await api('jobs');
    const tbody = document.querySelector('#jobs tbody');
    tbody.innerHTML = '';
    for (const j of jobs) {
      const tr = document.createElement('tr');
      tr.className = 'job';
      const cells = [j.jobId, j.status, (j.epoch || 0) + '/' + (j.totalEpochs || '?'), j.testAccuracy ? (j.testAccuracy * 100).toFixed(2) + '%' : ''].map((text) => {
        const td = document.createElement('td'); td.textContent = text; tr.appendChild(td); return td;
      });
      // A running job's own status carries its place inside the current epoch.
      if (j.status === 'RUNNING') {
        api('jobs/' + encodeURIComponent(j.jobId)).then((full) => {
          const p = full.progress;
          if (p) cells[2].textContent = p.epoch + '/' + (full.totalEpochs || '?') + ', batch ' + p.batch + '/' + p.batches;
        }).catch(() => {});
      }
      tr.onclick = () => plot(j);
      tbody.appendChild(tr);
    }
    if (jobs[0]) plot(jobs.find((j) => j.metrics.length) || jobs[0]);
  } catch (e) { document.getElementById('error').textContent = e.message; }
}

function plot(job) {
  const svg = document.getElementById('plot');
  const W = 420, H = 200, L = 36, B = 24, m = job.metrics;
  let out = '<text x="' + L + '" y="12" font-size="12">' + job.jobId + ': loss (red), train acc (blue), val acc (green)</text>';
  if (m.length) {
    const maxLoss = Math.max(...m.map((x) => x.loss), 0.01);
    const x = (i) => L + (m.length === 1 ? 0 : (i * (W - L - 10)) / (m.length - 1));
    const y = (v) => H - B - v * (H - B - 20);
    const line = (values, color) => '<polyline fill="none" stroke="' + color + '" stroke-width="2" points="' + values.map((v, i) => x(i) + ',' + y(v)).join(' ') + '"/>';
    out += line(m.map((e) => e.loss / maxLoss), '#d33') + line(m.map((e) => e.accuracy), '#36c') + line(m.map((e) => e.valAccuracy ?? e.accuracy), '#2a2');
    out += '<line x1="' + L + '" y1="' + (H - B) + '" x2="' + W + '" y2="' + (H - B) + '" stroke="#999"/>';
    out += '<text x="' + L + '" y="' + (H - 6) + '" font-size="11">epoch 1</text><text x="' + (W - 50) + '" y="' + (H - 6) + '" font-size="11">epoch ' + m.length + '</text>';
  }
  svg.innerHTML = out;
}
loadJobs();
setInterval(loadJobs, 5000);
</script>
</body>
</html>
`;
