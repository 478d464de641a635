/**
 * The dashboard as an operator uses it, in headless Chromium against Allot
 * and two example summarizers as real processes on loopback: it follows the
 * push channel (no polling), cancels a queued request, retries a failed one,
 * pauses the scheduler, opens a worker's breaker, shows a request's audit
 * timeline, names clients, draws the cost chart with its axes and a split,
 * and fits a 375 px phone. With ALLOT_SCREENSHOTS=<dir> (npm run
 * screenshots) it saves desktop and phone screenshots there.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ADMIN_KEY, allotFiles, createClient, startAllot, startWorker, text, until, type AllotProc, type RunningWorker } from './harness.ts';
import type { Client } from '../helpers/proc.ts';

const CHROMIUM = process.env.ALLOT_TEST_CHROMIUM ?? '/usr/bin/chromium';
const present = existsSync(CHROMIUM);
const required = process.env.ALLOT_TEST_BROWSER === 'required';
const skip = !present && !required ? `Debian's chromium is not installed (${CHROMIUM}); apt-get install chromium` : false;
const SHOTS = process.env.ALLOT_SCREENSHOTS ? resolve(process.env.ALLOT_SCREENSHOTS) : null;

interface Exec { request_id: string; status: string; client_id: string; template: string; cost_usd: number }

describe('dashboard: push, actions, request page, chart, phone width (headless Chromium)', { skip }, () => {
  let slow: RunningWorker;
  let quick: RunningWorker;
  let allot: AllotProc;
  let browser: Browser;
  let page: Page;
  let api: Client;
  let clientId: string;
  /** Every request the page made, by path. */
  const seen: string[] = [];
  const exec = async (id: string): Promise<Exec> => (await allot.admin.request<Exec>('GET', `/api/execution/${id}`)).body;
  const submit = async (template: string, input: unknown): Promise<string> => {
    const r = await api.request<{ request_id: string }>('POST', '/api/queue/enqueue', { template, input });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return r.body.request_id;
  };
  const shot = async (name: string): Promise<void> => {
    if (SHOTS) await page.screenshot({ path: join(SHOTS, name), fullPage: true });
  };

  before(async () => {
    assert.ok(present, `Chromium is required here and missing at ${CHROMIUM}`);
    if (SHOTS) mkdirSync(SHOTS, { recursive: true });
    slow = await startWorker('examples/summarizer/server.ts', ['--delay-ms', '2500']);
    quick = await startWorker('examples/summarizer/server.ts');
    allot = await startAllot(allotFiles({
      resources: {
        'test-llm': { kind: 'tokens', model: 'test-llm', unit: 'token', capacity: 100_000, refill_per_s: 100_000, cost_per_unit_usd: 0.00001 },
        'other-llm': { kind: 'tokens', model: 'other-llm', unit: 'token', capacity: 100_000, refill_per_s: 100_000, cost_per_unit_usd: 0.00003 },
      },
      // One request at a time on the slow worker: a second one waits in the queue.
      workers: { slow: { transport: 'http', url: slow.url, max_concurrency: 1 }, quick: { transport: 'http', url: quick.url, max_concurrency: 4 } },
      templates: {
        summarize: { worker: 'slow', model: 'test-llm', max_tokens: 200, timeout_ms: 30_000 },
        digest: { worker: 'quick', model: 'other-llm', max_tokens: 200, timeout_ms: 30_000, max_attempts: 1 },
      },
    }));
    const c = await createClient(allot, 'Acme Research', 'standard');
    clientId = c.id;
    api = allot.as(c.key);
    // Some cost in this hour, from two templates and two models.
    for (const template of ['summarize', 'digest']) {
      const r = await api.request<{ status: string }>('POST', '/api/execute', { template, input: { text: text(2, 4), sentences: 2 }, wait_ms: 20_000 });
      assert.equal(r.body.status, 'COMPLETED', JSON.stringify(r.body));
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM, headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    page.on('request', (r) => seen.push(new URL(r.url()).pathname));
    await page.goto(`${allot.url}/dashboard`);
    await page.fill('#key', ADMIN_KEY);
    await page.click('#login button[type=submit]');
    await page.waitForSelector('#board:not([hidden])');
  });

  after(async () => {
    await browser?.close();
    await allot?.stop();
    await slow?.proc.stop();
    await quick?.proc.stop();
  });

  it('updates by server push: a new request appears with no polling of the snapshot', async () => {
    await page.waitForSelector('#workers tr[data-key="slow"]');
    const opened = seen.filter((p) => p.startsWith('/admin/dashboard')).length;
    const id = await submit('summarize', { text: text(3, 4), sentences: 2 });
    await page.waitForSelector(`#requests tr[data-key="${id}"]`, { timeout: 5_000 });
    // A few quiet seconds, then the request's end arrives by push too.
    await until(async () => (await exec(id)).status === 'COMPLETED', 20_000, 'the request to complete');
    await page.waitForSelector(`#requests tr[data-key="${id}"]`, { state: 'detached', timeout: 5_000 });
    await new Promise((r) => setTimeout(r, 2_000));
    const later = seen.filter((p) => p.startsWith('/admin/dashboard'));
    assert.equal(later.length, opened, `no request to /admin/dashboard* after signing in (saw ${later.join(', ')})`);
    assert.deepEqual(seen.filter((p) => p === '/admin/dashboard'), [], 'the snapshot endpoint is never polled');
    assert.equal(seen.filter((p) => p === '/admin/dashboard/events').length, 1, 'one push stream, opened once');
  });

  it('names clients instead of showing their ids', async () => {
    assert.match(await page.textContent(`#budgets tr[data-key="${clientId}"]`) ?? '', /Acme Research/);
    const running = await submit('summarize', { text: text(4, 4), sentences: 2 });
    const row = page.locator(`#requests tr[data-key="${running}"]`);
    await row.waitFor();
    assert.match(await row.textContent() ?? '', /Acme Research/);
    assert.doesNotMatch(await row.textContent() ?? '', new RegExp(clientId));
    await until(async () => (await exec(running)).status === 'COMPLETED', 20_000, 'the request to complete');
  });

  it('cancels a queued request from the list; a queued request has no progress bar', async () => {
    const first = await submit('summarize', { text: text(5, 4), sentences: 2 });
    const queued = await submit('summarize', { text: text(6, 4), sentences: 2 });
    const row = page.locator(`#requests tr[data-key="${queued}"]`);
    await row.waitFor();
    await until(async () => (await exec(first)).status === 'RUNNING', 10_000, 'the first request to run');
    assert.equal((await exec(queued)).status, 'PENDING', 'one at a time on the slow worker: the second waits');
    await page.locator(`#requests tr[data-key="${queued}"]`, { hasText: 'queued' }).waitFor();
    assert.equal(await row.locator('progress').count(), 0, 'no progress bar for a queued request');
    await shot('dashboard-desktop.png');
    await row.locator('button[data-action="cancel"]').click();
    await page.locator('#notice.ok', { hasText: 'CANCELLED' }).waitFor();
    assert.equal((await exec(queued)).status, 'CANCELLED');
    await row.waitFor({ state: 'detached' });
    await until(async () => (await exec(first)).status === 'COMPLETED', 20_000, 'the first request to complete');
  });

  it('pauses and resumes the scheduler', async () => {
    await page.click('#pause');
    await page.locator('#status', { hasText: 'scheduler paused' }).waitFor();
    const s = await allot.admin.request<{ scheduler: string }>('GET', '/status');
    assert.equal(s.body.scheduler, 'paused');
    // Paused: a submission waits.
    const id = await submit('digest', { text: text(7, 4), sentences: 1 });
    await page.locator(`#requests tr[data-key="${id}"]`, { hasText: 'queued' }).waitFor();
    await page.click('#pause');
    await page.locator('#status', { hasText: 'scheduler running' }).waitFor();
    assert.equal((await allot.admin.request<{ scheduler: string }>('GET', '/status')).body.scheduler, 'running');
    await until(async () => (await exec(id)).status === 'COMPLETED', 20_000, 'the held request to run once resumed');
  });

  it('opens a worker\'s breaker (held until closed) and closes it', async () => {
    const row = page.locator('#workers tr[data-key="quick"]');
    await row.locator('button[data-action="breaker"][data-state="open"]').click();
    await page.locator('#notice.ok', { hasText: 'breaker open' }).waitFor();
    const w = await allot.admin.request<{ worker: { health: { breaker: string; held: boolean; available: boolean } } }>('GET', '/admin/workers/quick');
    assert.deepEqual([w.body.worker.health.breaker, w.body.worker.health.held, w.body.worker.health.available], ['open', true, false]);
    await row.locator('.badge.open').waitFor();
    await row.locator('button[data-action="breaker"][data-state="closed"]').click();
    await row.locator('.badge.closed').waitFor();
    assert.equal((await allot.admin.request<{ worker: { health: { breaker: string } } }>('GET', '/admin/workers/quick')).body.worker.health.breaker, 'closed');
  });

  it('lists failed requests and retries one', async () => {
    // The summarizer refuses a text that is not a string (not retryable): FAILED at once.
    const bad = await submit('digest', { text: 42, sentences: 1 });
    await until(async () => (await exec(bad)).status === 'FAILED', 10_000, 'the request to fail');
    await page.click('#nav a[data-view="failed"]');
    const row = page.locator(`#failed tr[data-key="${bad}"]`);
    await row.waitFor();
    assert.match(await row.textContent() ?? '', /Acme Research.*digest/);
    assert.ok(await page.isVisible('#failed-view'));
    assert.equal(await page.isVisible('#board'), false);
    await row.locator('button[data-action="retry"]').click();
    const note = page.locator('#notice.ok', { hasText: 'resubmitted as' });
    await note.waitFor();
    const newId = (await note.locator('a').getAttribute('title')) ?? '';
    assert.notEqual(newId, bad);
    const again = await exec(newId);
    assert.deepEqual([again.client_id, again.template], [clientId, 'digest'], 'a new request of the same client and template');
  });

  it('shows what Allot answers when it refuses an action', async () => {
    // A failed request of a client that is then deleted: Allot refuses to submit it again, and says why.
    const doomed = await createClient(allot, 'Doomed Co', 'standard');
    const r = await allot.as(doomed.key).request<{ request_id: string }>('POST', '/api/queue/enqueue', { template: 'digest', input: { text: 7, sentences: 1 } });
    const id = r.body.request_id;
    await until(async () => (await exec(id)).status === 'FAILED', 10_000, 'the request to fail');
    assert.equal((await allot.admin.request('DELETE', `/admin/clients/${doomed.id}`)).status, 200);
    await page.goto(`${allot.url}/dashboard#/failed`);
    const row = page.locator(`#failed tr[data-key="${id}"]`);
    await row.locator('button[data-action="retry"]').click();
    await page.locator('#notice.error', { hasText: `NOT_FOUND: Client ${doomed.id} no longer exists` }).waitFor();
    assert.equal(await page.getAttribute('#notice', 'role'), 'alert');
  });

  it('shows a request page: audit timeline, usage, cost; an unknown id says why', async () => {
    const done = (await allot.admin.request<{ requests: Exec[] }>('GET', `/admin/requests?status=COMPLETED&template=summarize&limit=1`)).body.requests[0];
    assert.ok(done);
    await page.goto(`${allot.url}/dashboard#/request/${done.request_id}`);
    await page.waitForSelector('#request-view:not([hidden]) #timeline li');
    const timeline = await page.textContent('#timeline') ?? '';
    for (const s of ['PENDING', 'RUNNING', 'COMPLETED']) assert.match(timeline, new RegExp(s), `the timeline shows ${s}`);
    const audit = await allot.admin.request<{ entries: unknown[] }>('GET', `/admin/audit?request_id=${done.request_id}`);
    assert.equal(await page.locator('#timeline li').count(), audit.body.entries.length, 'one line per audit entry of this request');
    const facts = await page.textContent('#request dl') ?? '';
    assert.match(facts, /Acme Research/);
    assert.match(facts, /\d+ in · \d+ out/, 'usage');
    assert.match(facts, /\$0\.\d+/, 'cost');
    await shot('dashboard-request.png');
    await page.goto(`${allot.url}/dashboard#/request/req_does_not_exist`);
    await page.locator('#request .error', { hasText: 'No request req_does_not_exist' }).waitFor();
  });

  it('draws the cost chart with labelled axes and splits it by client, template and model', async () => {
    await page.goto(`${allot.url}/dashboard#/`);
    await page.waitForSelector('#cost-chart rect.cost');
    const yValues = await page.locator('#cost-chart text.y-value').allTextContents();
    assert.ok(yValues.length >= 3 && yValues.every((v) => /^\$\d/.test(v)), `y axis values: ${yValues.join(' ')}`);
    assert.ok((await page.locator('#cost-chart text.x-value').allTextContents()).every((v) => /^\d\d:00$/.test(v)));
    assert.deepEqual(await page.locator('#cost-chart .axis-title').allTextContents(), ['USD per hour', 'hour (local time)']);
    const legend = async (): Promise<string[]> => page.evaluate<string[]>("[...document.querySelectorAll('#cost-legend li')].map((li) => li.dataset.series)");
    assert.deepEqual(await legend(), ['total']);
    await page.selectOption('#cost-split', 'template');
    await until(async () => (await legend()).toSorted().join() === 'digest,summarize', 5_000, 'one series per template');
    assert.ok(await page.locator('#cost-chart rect.cost[data-series="digest"]').count() > 0, 'bars of the digest series');
    await page.selectOption('#cost-split', 'model');
    await until(async () => (await legend()).toSorted().join() === 'other-llm,test-llm', 5_000, 'one series per model');
    await page.selectOption('#cost-split', 'client');
    await until(async () => (await legend()).join() === clientId, 5_000, 'one series per client');
    assert.match(await page.textContent('#cost-legend') ?? '', /Acme Research \$/);
  });

  it('fits a 375 px phone: no horizontal page scroll on any view', async () => {
    await page.setViewportSize({ width: 375, height: 800 });
    // Something in the live list, for the widest table.
    const id = await submit('summarize', { text: text(8, 4), sentences: 2 });
    await page.goto(`${allot.url}/dashboard#/`);
    await page.waitForSelector(`#requests tr[data-key="${id}"]`);
    const width = (): Promise<number> => page.evaluate<number>('document.documentElement.scrollWidth');
    assert.ok(await width() <= 375, `overview: scrollWidth ${await width()}`);
    await shot('dashboard-phone.png');
    await page.click('#nav a[data-view="failed"]');
    await page.waitForSelector('#failed tbody tr');
    assert.ok(await width() <= 375, `failed: scrollWidth ${await width()}`);
    await page.goto(`${allot.url}/dashboard#/request/${id}`);
    await page.waitForSelector('#request-view:not([hidden]) #timeline li');
    assert.ok(await width() <= 375, `request: scrollWidth ${await width()}`);
    // The live list collapses to cards: every field, and the Cancel button, within the screen.
    await page.goto(`${allot.url}/dashboard#/`);
    const cancel = page.locator(`#requests tr[data-key="${id}"] button[data-action="cancel"]`);
    await cancel.waitFor();
    const box = await cancel.boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= 375, `the Cancel button is on screen: ${JSON.stringify(box)}`);
    assert.equal(await page.isVisible('#requests thead'), false, 'no table header on a phone: each row is a card');
  });
});
