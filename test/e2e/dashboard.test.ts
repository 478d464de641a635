/**
 * The operator dashboard in a real browser: Debian's Chromium, headless,
 * driven by playwright-core, against Allot and the example summarizer as
 * real processes on loopback. Without /usr/bin/chromium this file is
 * skipped, with that reason, unless ALLOT_TEST_BROWSER=required (CI sets it
 * and installs Chromium), where it fails instead.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ADMIN_KEY, allotFiles, createClient, startAllot, startWorker, text, until, type AllotProc, type RunningWorker } from './harness.ts';
import { tempDir } from '../helpers/proc.ts';

const CHROMIUM = process.env.ALLOT_TEST_CHROMIUM ?? '/usr/bin/chromium';
const present = existsSync(CHROMIUM);
const required = process.env.ALLOT_TEST_BROWSER === 'required';
const skip = !present && !required ? `Debian's chromium is not installed (${CHROMIUM}); apt-get install chromium` : false;

describe('operator dashboard in headless Chromium', { skip }, () => {
  let worker: RunningWorker;
  let allot: AllotProc;
  let browser: Browser;
  let page: Page;
  let clientId: string;
  const ids: string[] = [];

  before(async () => {
    assert.ok(present, `Chromium is required here and missing at ${CHROMIUM}`);
    // Requests stay RUNNING (10% reported, then 4 s of work) long enough to be watched.
    worker = await startWorker('examples/summarizer/server.ts', ['--delay-ms', '4000']);
    allot = await startAllot(allotFiles({
      resources: { 'test-llm': { kind: 'tokens', model: 'test-llm', unit: 'token', capacity: 100_000, refill_per_s: 100_000, cost_per_unit_usd: 0.00001 } },
      workers: { summarizer: { transport: 'http', url: worker.url, max_concurrency: 4 } },
      templates: { summarize: { worker: 'summarizer', model: 'test-llm', max_tokens: 200, timeout_ms: 30_000 } },
    }));
    const est = await allot.admin.request<{ estimate: { max_cost_usd: number } }>('POST', '/api/resources/estimate', { template: 'summarize', input: { text: text(1, 4), sentences: 2 } });
    // Two requests hold the whole budget: the budget alert fires.
    const c = await createClient(allot, 'dash-client', 'standard', { monthly_budget_usd: est.body.estimate.max_cost_usd * 2.01 });
    clientId = c.id;
    const api = allot.as(c.key);
    for (let i = 0; i < 2; i++) {
      const r = await api.request<{ request_id: string }>('POST', '/api/queue/enqueue', { template: 'summarize', input: { text: text(1, 4), sentences: 2 } });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      ids.push(r.body.request_id);
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM, headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  });

  after(async () => {
    await browser?.close();
    await allot?.stop();
    await worker?.proc.stop();
  });

  it('refuses a key that is not the admin key, and says so', async () => {
    await page.goto(`${allot.url}/dashboard`);
    await page.fill('#key', 'not-the-admin-key');
    await page.click('#login button[type=submit]');
    await page.locator('#login-error', { hasText: 'not an admin key' }).waitFor();
    assert.equal(await page.isVisible('#board'), false);
  });

  it('shows live requests with progress bars, the budget alert, pools, budgets and workers', async () => {
    await page.fill('#key', ADMIN_KEY);
    await page.click('#login button[type=submit]');
    await page.waitForSelector('#board:not([hidden])');
    // Both requests running, each with the 10% the worker reported.
    for (const id of ids) {
      const bar = `#requests tr[data-key="${id}"] progress`;
      await page.waitForFunction(`Number(document.querySelector(${JSON.stringify(bar)})?.getAttribute('value') ?? 0) >= 10`, undefined, { timeout: 10_000 });
    }
    assert.match(await page.textContent(`#requests tr[data-key="${ids[0]}"]`) ?? '', /RUNNING/);
    await page.waitForSelector(`#alerts tr[data-key="budget_high:${clientId}"]`);
    assert.match(await page.textContent(`#alerts tr[data-key="budget_high:${clientId}"]`) ?? '', /critical|warning/);
    assert.match(await page.textContent('#pools tr[data-key="test-llm"]') ?? '', /%/);
    assert.match(await page.textContent(`#budgets tr[data-key="${clientId}"]`) ?? '', /dash-client/);
    assert.match(await page.textContent('#workers tr[data-key="summarizer"]') ?? '', /summarizer.*http.*\/4/);
    assert.match(await page.textContent('#migration') ?? '', /mode allot/);
    await page.screenshot({ path: join(tempDir('allot-dashboard-'), 'running.png'), fullPage: true });
  });

  it('follows the requests to their end: the live list empties, the cost appears, the alert resolves', async () => {
    await until(async () => (await page.$$('#requests tbody tr')).length === 0, 30_000, 'the live list to empty');
    await page.locator('#cost-total', { hasText: /total \$0\.0*[1-9]/ }).waitFor({ timeout: 10_000 });
    // The worker used far less than the worst case held: spent is under 95% of the budget now.
    await page.locator(`#alerts tr[data-key="budget_high:${clientId}"]`).waitFor({ state: 'detached', timeout: 10_000 });
    const hist = await allot.admin.request<{ alerts: { kind: string; subject: string; state: string }[] }>('GET', '/admin/alerts/history');
    assert.ok(hist.body.alerts.some((a) => a.kind === 'budget_high' && a.subject === clientId && a.state === 'resolved'), 'the history keeps it, resolved');
  });
});
