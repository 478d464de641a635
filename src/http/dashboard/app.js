// Allot operator dashboard. Asks for the admin key, then follows the push channel
// GET /admin/dashboard/events (Server-Sent Events read with fetch(), so that the key
// travels in the Authorization header, never in a URL) and renders each snapshot it
// sends. Nothing here runs on a timer: the page changes when the server says something
// changed, when the operator acts, or when the stream must be reopened after it broke.
// Plain DOM (no framework, no build step); every value from the server is written with
// textContent, never as HTML.
const $ = (sel) => document.querySelector(sel);
const KEY = 'allot.adminKey';
const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);
let snap = null;
let stream = null; // AbortController of the open stream
let reconnect; // timer: reopen the stream after it broke
let retryMs = 1000;
let split = { by: 'total', data: null, costKey: '' };

// ---- small DOM helpers ----------------------------------------------------------------
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
const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : '—');
const badge = (text, cls = text) => el('span', { class: `badge ${cls}` }, text);
const button = (label, action, data = {}, cls = '') => el('button', { type: 'button', class: cls || null, 'data-action': action, ...Object.fromEntries(Object.entries(data).map(([k, v]) => [`data-${k}`, v])) }, label);
const requestLink = (id) => el('a', { href: `#/request/${encodeURIComponent(id)}`, class: 'mono', title: id }, id.length > 16 ? `${id.slice(0, 14)}…` : id);
/** A table; `cards`: on a phone each row becomes a card (label: value lines) instead of scrolling sideways. */
const table = (head, rows, numeric = [], cards = false) =>
  rows.length === 0
    ? el('p', { class: 'empty' }, 'nothing')
    : el('div', { class: 'scroll' }, el('table', { class: cards ? 'cards' : null }, el('thead', {}, el('tr', {}, head.map((h, i) => el('th', { class: numeric.includes(i) ? 'num' : null }, h)))),
      el('tbody', {}, rows.map((r) => el('tr', { 'data-key': r.key ?? null }, r.cells.map((c, i) => el('td', { class: numeric.includes(i) ? 'num' : null, 'data-label': head[i] }, c)))))));
function meter(fraction) {
  const f = Math.max(0, Math.min(1, fraction));
  const cls = f < 0.1 ? 'bad' : f < 0.3 ? 'warn' : '';
  return el('span', {}, el('span', { class: 'track' }, el('span', { class: `bar ${cls}`, style: `width:${(f * 100).toFixed(1)}%` })), pct(f));
}
const put = (id, ...content) => $(`#${id} .body`).replaceChildren(...content.filter((c) => c !== null && c !== undefined));
const clientName = (id, name) => el('span', { title: id }, name ?? id);

// ---- talking to Allot -------------------------------------------------------------------
const key = () => sessionStorage.getItem(KEY);

/** An admin call; throws an Error with the envelope's message (and code) when refused. */
async function api(method, path, body) {
  const r = await fetch(path, {
    method,
    headers: { authorization: `Bearer ${key()}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON: reported below by status.
  }
  if (!r.ok) {
    const err = new Error(json?.error?.message ?? `HTTP ${r.status}`);
    err.code = json?.error?.code ?? `HTTP_${r.status}`;
    err.status = r.status;
    throw err;
  }
  return json;
}

function notice(text, kind = 'ok') {
  const n = $('#notice');
  n.replaceChildren(...(Array.isArray(text) ? text : [text]));
  n.className = kind;
  n.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  n.hidden = false;
}

/** Follow the push channel until it ends; each `snapshot` event is rendered. */
async function follow() {
  clearTimeout(reconnect);
  stream?.abort();
  const ctrl = new AbortController();
  stream = ctrl;
  let r;
  try {
    r = await fetch('/admin/dashboard/events', { headers: { authorization: `Bearer ${key()}`, accept: 'text/event-stream' }, signal: ctrl.signal });
  } catch (err) {
    return broken(ctrl, err.message);
  }
  if (r.status === 401) return showLogin('That key is not an admin key.');
  if (!r.ok || !r.body) {
    let message = `HTTP ${r.status}`;
    try {
      message = (await r.json()).error.message;
    } catch {
      // keep the status
    }
    if (r.status === 403) return showLogin(message);
    return broken(ctrl, message);
  }
  signedIn();
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let end;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        let event = 'message';
        const data = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        if (event === 'snapshot' && data.length) {
          retryMs = 1000;
          onSnapshot(JSON.parse(data.join('\n')));
        }
      }
    }
    broken(ctrl, 'the stream ended');
  } catch (err) {
    broken(ctrl, err.message);
  }
}

/** The stream broke: say so and reopen it, waiting longer each time (at most 15 s). */
function broken(ctrl, why) {
  if (stream !== ctrl || ctrl.signal.aborted) return;
  $('#live').hidden = true;
  $('#status').textContent = `cannot reach Allot (${why}); reconnecting…`;
  reconnect = setTimeout(() => void follow(), retryMs);
  retryMs = Math.min(retryMs * 2, 15_000);
}

// ---- rendering ----------------------------------------------------------------------------
function onSnapshot(s) {
  snap = s;
  renderOverview(s);
  renderFailed(s);
  const costKey = s.cost.map((p) => `${p.cost_usd}/${p.requests}`).join(',');
  if (split.by !== 'total' && costKey !== split.costKey) void loadSplit(costKey);
  else renderCost();
  const route = currentRoute();
  // An open request that has not ended may have changed: read it again.
  if (route.view === 'request' && !TERMINAL.has(requestShown?.status)) void loadRequest(route.id);
}

function renderOverview(s) {
  const paused = s.scheduler === 'paused';
  $('#status').textContent = `scheduler ${s.scheduler} · updated ${new Date(s.at).toLocaleTimeString()}`;
  $('#status').className = paused ? 'paused' : 'muted';
  const pause = $('#pause');
  pause.textContent = paused ? 'Resume scheduler' : 'Pause scheduler';
  pause.dataset.action = paused ? 'resume' : 'pause';
  $('#failed-count').textContent = s.queues.states.FAILED ? String(s.queues.states.FAILED) : '';
  put('alerts', table(['severity', 'alert', 'subject', 'since'], s.alerts.map((a) => ({
    key: `${a.kind}:${a.subject}`, cells: [badge(a.severity), a.message, a.subject, time(a.fired_at)],
  }))));
  const q = s.queues;
  put('queues',
    el('p', {}, `${q.depth} queued · ${q.running} running · ${q.waiting_retry} waiting to retry`),
    table(['level', 'queued', 'oldest wait'], Object.entries(q.levels).map(([lv, x]) => ({ key: lv, cells: [lv, x.depth, `${(x.oldestWaitMs / 1000).toFixed(1)} s`] })), [1, 2]),
    el('p', { class: 'muted' }, Object.entries(q.states).map(([k, v]) => `${k} ${v}`).join(' · ')));
  put('requests', table(['request', 'client', 'template', 'status', 'progress', 'stages', ''], s.requests.map((r) => ({
    key: r.request_id,
    cells: [
      requestLink(r.request_id), clientName(r.client_id, r.client_name), r.template, badge(r.status), progressCell(r),
      r.stages ? r.stages.map((st) => `${st.worker}:${st.status}`).join(' → ') : r.system === 'v2' ? 'Orchestrator v2' : '',
      button('Cancel', 'cancel', { id: r.request_id }, 'danger small'),
    ],
  })), [], true));
  put('pools', table(['resource', 'available', 'pools'], s.resources.map((r) => ({
    key: r.name,
    cells: [r.name, r.available === null ? '—' : meter(r.available / r.capacity), r.pools.length > 1 ? r.pools.map((p) => `${p.name} ${p.available}/${Math.round(p.capacity)}`).join(', ') : ''],
  }))));
  put('budgets', table(['client', 'tier', 'spent', 'held', 'budget', 'used'], s.budgets.map((b) => ({
    key: b.client_id, cells: [clientName(b.client_id, b.name), b.tier, usd(b.spent_usd), usd(b.held_usd), usd(b.budget_usd), b.used === null ? '—' : pct(b.used)],
  })), [2, 3, 4, 5], true));
  put('workers', table(['worker', 'transport', 'running', 'health', 'breaker', ''], s.workers.map((w) => {
    const open = w.health && w.health.breaker !== 'closed';
    return {
      key: w.name,
      cells: [
        w.name, w.transport, `${w.running}/${w.max_concurrency}`, w.health ? badge(w.health.status) : '—',
        w.health ? el('span', {}, badge(w.health.breaker), w.health.held ? ' held' : '') : '—',
        open ? button('Close breaker', 'breaker', { worker: w.name, state: 'closed' }, 'small') : button('Open breaker', 'breaker', { worker: w.name, state: 'open' }, 'danger small'),
      ],
    };
  }), [], true));
  const m = s.migration;
  put('migration',
    el('p', {}, `mode ${m.mode}${m.mode === 'rollout' ? ` (${m.rollout_percent}% to Allot)` : ''}${m.rollback ? ' · ROLLED BACK' : ''} · shadow ${m.shadowing ? 'on' : 'off'}`),
    table(['system', 'requests', 'in flight'], [
      { key: 'allot', cells: ['Allot', m.progress.allot, m.progress.in_flight.allot] },
      { key: 'v2', cells: ['Orchestrator v2', m.progress.v2, m.progress.in_flight.v2] },
    ], [1, 2]),
    el('p', { class: 'muted' }, `shadow comparisons ${m.shadow_results.total}, with differences ${m.shadow_results.with_differences}`));
}

/** Only a running request moves: queued ones say where they wait, with no bar. */
function progressCell(r) {
  if (r.status === 'PENDING') return el('span', { class: 'muted' }, r.queue_position ? `queued, #${r.queue_position}` : 'queued');
  if (r.status === 'WAITING_RETRY') return el('span', { class: 'muted' }, 'waiting to retry');
  if (r.status === 'PREPARING') return el('span', { class: 'muted' }, 'starting');
  if (!r.progress) return el('span', { class: 'muted' }, 'running, no progress reported');
  return el('span', {}, el('progress', { max: 100, value: r.progress.percent, 'aria-label': `progress of ${r.request_id}` }), ` ${r.progress.percent}%${r.progress.message ? ` ${r.progress.message}` : ''}`);
}

function renderFailed(s) {
  put('failed',
    el('p', { class: 'muted' }, `${s.queues.states.FAILED ?? 0} failed in all; the ${s.failed.length} most recent below. Retry submits a request again as a new one (same client, template and input).`),
    table(['request', 'client', 'template', 'attempts', 'error', 'failed at', ''], s.failed.map((r) => ({
      key: r.request_id,
      cells: [
        requestLink(r.request_id), clientName(r.client_id, r.client_name), r.template, r.attempts,
        r.error ? el('span', { title: r.error.message }, el('code', {}, r.error.code), ` ${r.error.message}`) : '—', time(r.failed_at),
        button('Retry', 'retry', { id: r.request_id }, 'small'),
      ],
    })), [3], true));
}

// ---- cost chart -----------------------------------------------------------------------------
const PALETTE = ['#3b6fd8', '#e07b39', '#2f8f4e', '#a54ac2', '#c23b3b', '#1a9aa6', '#8a6d1e', '#5b6475'];
const SVG = 'http://www.w3.org/2000/svg';
const svgEl = (tag, attrs = {}, text) => {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
};

/** A round step for about `n` ticks up to `max`. */
function niceStep(max, n = 4) {
  const raw = max / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * mag;
}
const axisUsd = (v, step) => `$${v.toFixed(Math.max(0, Math.min(8, -Math.floor(Math.log10(step)) + (step / 10 ** Math.floor(Math.log10(step)) === 2.5 ? 1 : 0))))}`;

async function loadSplit(costKey) {
  const by = split.by;
  try {
    const data = await api('GET', `/admin/dashboard/cost?by=${encodeURIComponent(by)}&hours=${snap?.cost.length ?? 24}`);
    if (split.by !== by) return; // Changed meanwhile.
    split = { by, data, costKey };
  } catch (err) {
    notice(`Cannot split the cost by ${by}: ${err.message}`, 'error');
  }
  renderCost();
}

function renderCost() {
  if (!snap) return;
  const points = snap.cost;
  const hours = points.map((p) => p.hour);
  // Series: one (total), or one per client / template / model.
  const series = split.by === 'total' || !split.data
    ? [{ key: 'total', label: 'total', cost_usd: points.map((p) => p.cost_usd) }]
    : split.data.series;
  // Drawn at the width of its box, so that its text keeps its size on a phone.
  const W = Math.max(300, Math.min(900, Math.round($('#cost .body').clientWidth || 760)));
  const H = W < 500 ? 200 : 240;
  const L = 64; // room for the y values
  const B = 36; // room for the hours and the x title
  const T = 10;
  const plotW = W - L - 8;
  const plotH = H - T - B;
  const stacks = hours.map((_, i) => series.reduce((a, s) => a + (s.cost_usd[i] ?? 0), 0));
  const top = Math.max(...stacks, 0);
  const step = top > 0 ? niceStep(top) : 1;
  const ymax = top > 0 ? Math.ceil(top / step) * step : 4;
  const y = (v) => T + plotH - (v / ymax) * plotH;
  const bw = plotW / Math.max(1, hours.length);
  const total = stacks.reduce((a, v) => a + v, 0);
  const svg = svgEl('svg', { viewBox: `0 0 ${W} ${H}`, width: '100%', role: 'img', id: 'cost-chart', 'aria-label': `cost per hour in USD over the last ${hours.length} hours, total ${usd(total)}` });
  // y axis: gridlines with their values
  for (let v = 0; v <= ymax + step / 1e6; v += step) {
    svg.append(svgEl('line', { x1: L, x2: W - 8, y1: y(v), y2: y(v), class: 'grid' }));
    svg.append(svgEl('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis y-value' }, top > 0 ? axisUsd(v, step) : '$0'));
    if (top === 0) break;
  }
  svg.append(svgEl('text', { x: 12, y: T + plotH / 2, transform: `rotate(-90 12 ${T + plotH / 2})`, 'text-anchor': 'middle', class: 'axis-title' }, 'USD per hour'));
  // bars, stacked by series
  hours.forEach((h, i) => {
    let base = 0;
    series.forEach((s, k) => {
      const v = s.cost_usd[i] ?? 0;
      if (v <= 0) return;
      const r = svgEl('rect', { x: L + i * bw + 1, y: y(base + v), width: Math.max(1, bw - 2), height: y(base) - y(base + v), fill: PALETTE[k % PALETTE.length], class: 'cost', 'data-series': s.key });
      r.append(svgEl('title', {}, `${new Date(h).toLocaleString()} · ${s.label}: ${usd(v)}`));
      svg.append(r);
      base += v;
    });
  });
  // x axis: hours
  svg.append(svgEl('line', { x1: L, x2: W - 8, y1: T + plotH, y2: T + plotH, class: 'axis-line' }));
  const every = Math.max(1, Math.ceil(hours.length / Math.max(2, Math.floor(plotW / 56))));
  hours.forEach((h, i) => {
    if (i % every !== 0) return;
    const d = new Date(h);
    svg.append(svgEl('text', { x: L + i * bw + bw / 2, y: T + plotH + 14, 'text-anchor': 'middle', class: 'axis x-value' }, `${String(d.getHours()).padStart(2, '0')}:00`));
  });
  svg.append(svgEl('text', { x: L + plotW / 2, y: H - 4, 'text-anchor': 'middle', class: 'axis-title' }, 'hour (local time)'));
  const legend = el('ul', { class: 'legend', id: 'cost-legend' }, series.map((s, k) => el('li', { 'data-series': s.key }, el('span', { class: 'swatch', style: `background:${PALETTE[k % PALETTE.length]}` }), `${s.label} ${usd(s.total_usd ?? s.cost_usd.reduce((a, v) => a + v, 0))}`)));
  const note = split.data && split.by !== 'total' && !split.data.complete ? el('p', { class: 'muted' }, 'More requests ended in this window than the split reads; the split is a lower bound.') : null;
  put('cost', svg, legend, note, el('p', { class: 'muted', id: 'cost-total' }, `total ${usd(total)} over ${points.reduce((a, p) => a + p.requests, 0)} requests`));
}

// A phone turned sideways: draw the chart again at its new width.
let lastWidth = 0;
window.addEventListener('resize', () => {
  const w = $('#cost .body').clientWidth;
  if (snap && w !== lastWidth) {
    lastWidth = w;
    renderCost();
  }
});

$('#cost-split').addEventListener('change', (ev) => {
  split = { by: ev.target.value, data: null, costKey: '' };
  if (split.by === 'total') renderCost();
  else void loadSplit(snap ? snap.cost.map((p) => `${p.cost_usd}/${p.requests}`).join(',') : '');
});

// ---- the request page -------------------------------------------------------------------------
let requestShown = null;
let loadingRequest = null;

async function loadRequest(id) {
  if (loadingRequest === id) return;
  loadingRequest = id;
  $('#request-id').textContent = id;
  try {
    const [r, audit] = await Promise.all([
      api('GET', `/api/execution/${encodeURIComponent(id)}`),
      api('GET', `/admin/audit?request_id=${encodeURIComponent(id)}&limit=500`),
    ]);
    if (currentRoute().id !== id) return;
    requestShown = r;
    renderRequest(r, audit.entries);
  } catch (err) {
    requestShown = null;
    put('request', el('p', { class: 'error' }, `Cannot read request ${id}: ${err.message}`));
  } finally {
    loadingRequest = null;
  }
}

function renderRequest(r, entries) {
  const client = snap?.budgets.find((b) => b.client_id === r.client_id);
  const dl = (pairs) => el('dl', { class: 'facts' }, pairs.filter(([, v]) => v !== undefined).flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v ?? '—')]));
  const u = r.usage;
  const usage = u
    ? [u.tokens ? `${u.tokens.input} in · ${u.tokens.output} out tokens` : null, ...Object.entries(u.resources ?? {}).map(([k, v]) => `${k} ${v}`)].filter(Boolean).join(' · ') || 'none reported'
    : null;
  const actions = el('p', { class: 'actions' },
    TERMINAL.has(r.status) ? null : button('Cancel', 'cancel', { id: r.request_id }, 'danger'),
    r.status === 'FAILED' ? button('Retry', 'retry', { id: r.request_id }) : null);
  put('request',
    el('p', {}, el('a', { href: '#/' }, '← overview'), ' · ', el('a', { href: '#/failed' }, 'failed requests')),
    dl([
      ['status', badge(r.status)], ['client', clientName(r.client_id, client?.name)], ['template', r.template], ['model', r.model],
      ['attempts', `${r.attempts} of ${r.max_attempts}`], ['progress', r.progress ? `${r.progress.percent}%${r.progress.message ? ` ${r.progress.message}` : ''}` : null],
      ['usage', usage], ['cost', usd(r.cost_usd)], ['created', r.created_at ? new Date(r.created_at).toLocaleString() : undefined],
      ['error', r.error ? `${r.error.code}: ${r.error.message}` : null],
    ]),
    actions,
    el('h3', {}, 'Stages'),
    r.stages
      ? table(['#', 'worker', 'status', 'attempts', 'cost', 'error'], r.stages.map((s) => ({ key: String(s.stage), cells: [s.stage, s.worker, badge(s.status), s.attempts, usd(s.cost_usd), s.error ? `${s.error.code}: ${s.error.message}` : ''] })), [0, 3, 4])
      : el('p', { class: 'muted' }, 'one stage (not a pipeline)'),
    el('h3', {}, 'Timeline (audit log)'),
    entries.length === 0
      ? el('p', { class: 'empty' }, 'no audit entries')
      : el('ol', { class: 'timeline', id: 'timeline' }, entries.map((e) => el('li', { 'data-seq': e.seq },
        el('time', { datetime: e.at }, new Date(e.at).toLocaleTimeString()), ' ',
        el('strong', {}, e.kind === 'transition' ? `${e.from ?? '∅'} → ${e.to}` : e.kind), ' ',
        el('span', { class: 'muted' }, `by ${e.actor}`),
        e.data && Object.keys(e.data).length ? el('div', { class: 'data mono' }, summarize(e.data)) : null))));
}

const summarize = (data) => Object.entries(data).map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`).join(' · ').slice(0, 400);

// ---- navigation -----------------------------------------------------------------------------------
function currentRoute() {
  const h = location.hash.replace(/^#\/?/, '');
  if (h.startsWith('request/')) return { view: 'request', id: decodeURIComponent(h.slice('request/'.length)) };
  if (h === 'failed') return { view: 'failed' };
  return { view: 'overview' };
}

function show() {
  if (!key() || $('#nav').hidden) return;
  const route = currentRoute();
  $('#notice').hidden = true; // What the last action said belongs to the page it was done on.
  $('#board').hidden = route.view !== 'overview';
  $('#failed-view').hidden = route.view !== 'failed';
  $('#request-view').hidden = route.view !== 'request';
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('current', a.dataset.view === route.view);
  if (route.view === 'request') {
    requestShown = null;
    put('request', el('p', { class: 'muted' }, 'loading…'));
    void loadRequest(route.id);
  }
}
window.addEventListener('hashchange', show);

// ---- actions -----------------------------------------------------------------------------------------
const ACTIONS = {
  async cancel(b) {
    const r = await api('POST', `/api/execution/${encodeURIComponent(b.dataset.id)}/cancel`);
    return `Request ${r.request_id} is ${r.status}.`;
  },
  async retry(b) {
    const r = await api('POST', '/admin/requests/resubmit', { request_ids: [b.dataset.id] });
    const x = r.results[0];
    if (!x) throw new Error(`request ${b.dataset.id} was not found among the ended requests`);
    if (x.outcome === 'refused') throw Object.assign(new Error(x.error?.message ?? 'refused'), { code: x.error?.code });
    return [`Request ${x.original} ${x.outcome === 'existing' ? 'was already resubmitted as' : 'resubmitted as'} `, requestLink(x.request_id), '.'];
  },
  async pause() {
    await api('POST', '/admin/scheduler/stop');
    return 'Scheduler paused: nothing new is dispatched (running work finishes, submissions are accepted).';
  },
  async resume() {
    await api('POST', '/admin/scheduler/start');
    return 'Scheduler running.';
  },
  async breaker(b) {
    const r = await api('POST', `/admin/workers/${encodeURIComponent(b.dataset.worker)}/breaker`, { state: b.dataset.state, reason: 'from the dashboard' });
    return `Worker ${r.worker}: breaker ${r.health.breaker}${r.health.held ? ' (held open until closed here)' : ''}.`;
  },
};

document.addEventListener('click', async (ev) => {
  const b = ev.target instanceof Element ? ev.target.closest('button[data-action]') : null;
  if (!b || !ACTIONS[b.dataset.action]) return;
  b.disabled = true;
  try {
    notice(await ACTIONS[b.dataset.action](b), 'ok');
    if (currentRoute().view === 'request') void loadRequest(currentRoute().id);
  } catch (err) {
    notice(`${err.code ? `${err.code}: ` : ''}${err.message}`, 'error');
  } finally {
    b.disabled = false;
  }
});

// ---- signing in and out --------------------------------------------------------------------------------
function signedIn() {
  $('#login').hidden = true;
  $('#signout').hidden = false;
  $('#pause').hidden = false;
  $('#nav').hidden = false;
  $('#live').hidden = false;
  show();
}

function showLogin(message = '') {
  clearTimeout(reconnect);
  stream?.abort();
  stream = null;
  sessionStorage.removeItem(KEY);
  for (const id of ['#board', '#failed-view', '#request-view', '#signout', '#pause', '#nav', '#live', '#notice']) $(id).hidden = true;
  $('#login').hidden = false;
  $('#login-error').textContent = message;
  $('#status').textContent = 'not signed in';
  $('#status').className = 'muted';
}

$('#login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(KEY, $('#key').value.trim());
  $('#key').value = '';
  void follow();
});
$('#signout').addEventListener('click', () => showLogin());
if (key()) void follow();
else showLogin();
