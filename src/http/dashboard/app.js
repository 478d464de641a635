// Allot operator dashboard: asks for the admin key, then polls GET /admin/dashboard
// once a second and renders it. Plain DOM (no framework, no build step); every value
// from the server is written with textContent, never as HTML.
const POLL_MS = 1000;
const $ = (sel) => document.querySelector(sel);
const KEY = 'allot.adminKey';
let timer;

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null) e.append(c instanceof Node ? c : String(c));
  return e;
}
const usd = (n) => (n === null || n === undefined ? '—' : `$${Number(n).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: n < 1 ? 6 : 2 })}`);
const pct = (x) => `${(x * 100).toFixed(1)}%`;
const badge = (text, cls = text) => el('span', { class: `badge ${cls}` }, text);
const table = (head, rows, numeric = []) =>
  rows.length === 0
    ? el('p', { class: 'empty' }, 'nothing')
    : el('table', {}, el('thead', {}, el('tr', {}, head.map((h, i) => el('th', { class: numeric.includes(i) ? 'num' : null }, h)))),
      el('tbody', {}, rows.map((r) => el('tr', { 'data-key': r.key ?? null }, r.cells.map((c, i) => el('td', { class: numeric.includes(i) ? 'num' : null }, c))))));
function meter(fraction) {
  const f = Math.max(0, Math.min(1, fraction));
  const cls = f < 0.1 ? 'bad' : f < 0.3 ? 'warn' : '';
  return el('span', {}, el('span', { class: 'track' }, el('span', { class: `bar ${cls}`, style: `width:${(f * 100).toFixed(1)}%` })), pct(f));
}
const put = (id, ...content) => $(`#${id} .body`).replaceChildren(...content);

function render(s) {
  $('#status').textContent = `scheduler ${s.scheduler} · updated ${new Date(s.at).toLocaleTimeString()}`;
  put('alerts', table(['severity', 'alert', 'subject', 'since'], s.alerts.map((a) => ({
    key: `${a.kind}:${a.subject}`, cells: [badge(a.severity), a.message, a.subject, new Date(a.fired_at).toLocaleTimeString()],
  }))));
  const q = s.queues;
  put('queues',
    el('p', {}, `${q.depth} queued · ${q.running} running · ${q.waiting_retry} waiting to retry`),
    table(['level', 'queued', 'oldest wait'], Object.entries(q.levels).map(([lv, x]) => ({ key: lv, cells: [lv, x.depth, `${(x.oldestWaitMs / 1000).toFixed(1)} s`] })), [1, 2]),
    el('p', { class: 'muted' }, Object.entries(q.states).map(([k, v]) => `${k} ${v}`).join(' · ')));
  put('requests', table(['request', 'client', 'template', 'status', 'progress', 'stages'], s.requests.map((r) => ({
    key: r.request_id,
    cells: [
      r.request_id.slice(0, 13), r.client_id.slice(0, 10), r.template, badge(r.status),
      r.progress
        ? el('span', {}, el('progress', { max: 100, value: r.progress.percent, 'aria-label': `progress of ${r.request_id}` }), ` ${r.progress.percent}%${r.progress.message ? ` ${r.progress.message}` : ''}`)
        : el('progress', { max: 100, 'aria-label': `progress of ${r.request_id}` }),
      r.stages ? r.stages.map((st) => `${st.worker}:${st.status}`).join(' → ') : r.system === 'v2' ? 'Orchestrator v2' : '',
    ],
  }))));
  put('pools', table(['resource', 'available', 'pools'], s.resources.map((r) => ({
    key: r.name,
    cells: [r.name, r.available === null ? '—' : meter(r.available / r.capacity), r.pools.length > 1 ? r.pools.map((p) => `${p.name} ${p.available}/${Math.round(p.capacity)}`).join(', ') : ''],
  }))));
  put('budgets', table(['client', 'tier', 'spent', 'held', 'budget', 'used'], s.budgets.map((b) => ({
    key: b.client_id, cells: [b.name, b.tier, usd(b.spent_usd), usd(b.held_usd), usd(b.budget_usd), b.used === null ? '—' : pct(b.used)],
  })), [2, 3, 4, 5]));
  put('cost', costChart(s.cost));
  put('workers', table(['worker', 'transport', 'running', 'health', 'breaker'], s.workers.map((w) => ({
    key: w.name, cells: [w.name, w.transport, `${w.running}/${w.max_concurrency}`, w.health ? badge(w.health.status) : '—', w.health ? badge(w.health.breaker) : '—'],
  }))));
  const m = s.migration;
  put('migration',
    el('p', {}, `mode ${m.mode}${m.mode === 'rollout' ? ` (${m.rollout_percent}% to Allot)` : ''}${m.rollback ? ' · ROLLED BACK' : ''} · shadow ${m.shadowing ? 'on' : 'off'}`),
    table(['system', 'requests', 'in flight'], [
      { key: 'allot', cells: ['Allot', m.progress.allot, m.progress.in_flight.allot] },
      { key: 'v2', cells: ['Orchestrator v2', m.progress.v2, m.progress.in_flight.v2] },
    ], [1, 2]),
    el('p', { class: 'muted' }, `shadow comparisons ${m.shadow_results.total}, with differences ${m.shadow_results.with_differences}`));
}

function costChart(points) {
  const W = 720;
  const H = 120;
  const max = Math.max(...points.map((p) => p.cost_usd), 0);
  const bw = W / Math.max(1, points.length);
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H + 16}`);
  svg.setAttribute('width', '100%');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `cost per hour, total ${usd(points.reduce((a, p) => a + p.cost_usd, 0))}`);
  points.forEach((p, i) => {
    const h = max > 0 ? (p.cost_usd / max) * H : 0;
    const r = document.createElementNS(ns, 'rect');
    r.setAttribute('class', 'cost');
    r.setAttribute('x', String(i * bw + 1));
    r.setAttribute('y', String(H - h));
    r.setAttribute('width', String(Math.max(1, bw - 2)));
    r.setAttribute('height', String(h));
    const t = document.createElementNS(ns, 'title');
    t.textContent = `${new Date(p.hour).toLocaleString()}: ${usd(p.cost_usd)}, ${p.requests} requests`;
    r.append(t);
    svg.append(r);
    if (i % 6 === 0) {
      const label = document.createElementNS(ns, 'text');
      label.setAttribute('x', String(i * bw));
      label.setAttribute('y', String(H + 12));
      label.textContent = new Date(p.hour).getHours().toString().padStart(2, '0') + ':00';
      svg.append(label);
    }
  });
  const total = points.reduce((a, p) => a + p.cost_usd, 0);
  return el('div', {}, svg, el('p', { class: 'muted', id: 'cost-total' }, `total ${usd(total)} over ${points.reduce((a, p) => a + p.requests, 0)} requests`));
}

async function poll() {
  const key = sessionStorage.getItem(KEY);
  if (!key) return showLogin();
  try {
    const r = await fetch('/admin/dashboard', { headers: { authorization: `Bearer ${key}` } });
    if (r.status === 401 || r.status === 403) return showLogin('That key is not an admin key.');
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    render(await r.json());
    $('#login').hidden = true;
    $('#board').hidden = false;
    $('#signout').hidden = false;
  } catch (err) {
    $('#status').textContent = `cannot reach Allot: ${err.message}`;
  }
  timer = setTimeout(poll, POLL_MS);
}

function showLogin(message = '') {
  clearTimeout(timer);
  sessionStorage.removeItem(KEY);
  $('#board').hidden = true;
  $('#signout').hidden = true;
  $('#login').hidden = false;
  $('#login-error').textContent = message;
  $('#status').textContent = 'not signed in';
}

$('#login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(KEY, $('#key').value.trim());
  $('#key').value = '';
  clearTimeout(timer);
  void poll();
});
$('#signout').addEventListener('click', () => showLogin());
void poll();
