/** Operator endpoints: clients and keys, workers, templates, tiers, resources. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { assertEnvelope, startHarness, type Harness } from '../helpers/app-harness.ts';
import { ARTICLE, baseConfig, startWorkers, TINY_CAPACITY, type Workers } from './fixtures.ts';

let h: Harness;
let w: Workers;
let admin: string;

before(async () => {
  w = await startWorkers();
  h = await startHarness(baseConfig(w));
  admin = h.adminKey;
});

after(async () => {
  await h?.close();
  await w?.close();
});

describe('clients', () => {
  test('POST /admin/clients → 201 with a key that works at once; list, get, patch, delete', async () => {
    const created = await h.call('POST', '/admin/clients', { key: admin, json: { name: 'Acme', tier: 'standard' } });
    assert.equal(created.status, 201, created.text);
    const id: string = created.body.client.id;
    const key: string = created.body.api_key;
    assert.match(id, /^cl_/);
    assert.match(key, /^ak_[A-Za-z0-9_-]{20,}$/);
    assert.equal(created.body.client.name, 'Acme');
    assert.equal(created.body.client.tier, 'standard');
    // Tier defaults (SPEC section 2): standard = $500, 20 concurrent.
    assert.equal(created.body.client.monthly_budget_usd, 500);
    assert.equal(created.body.client.max_concurrent, 20);
    assert.equal(created.body.client.custom_budget, false);
    assert.ok(!JSON.stringify(created.body.client).includes(key), 'the client view does not repeat the key');

    const cur = await h.call('GET', `/api/usage/${id}/current`, { key });
    assert.equal(cur.status, 200, 'the new key authenticates immediately');
    assert.equal(cur.body.budget_usd, 500);

    const list = await h.call('GET', '/admin/clients', { key: admin });
    assert.equal(list.status, 200);
    assert.ok(list.body.clients.some((c: { id: string }) => c.id === id));
    assert.ok(!list.text.includes(key), 'listing never shows keys');

    const got = await h.call('GET', `/admin/clients/${id}`, { key: admin });
    assert.equal(got.status, 200);
    assert.deepEqual(got.body.client, created.body.client);

    const patched = await h.call('PATCH', `/admin/clients/${id}`, { key: admin, json: { tier: 'premium', monthly_budget_usd: 5, max_concurrent: 2 } });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.body.client.tier, 'premium');
    assert.equal(patched.body.client.monthly_budget_usd, 5);
    assert.equal(patched.body.client.custom_budget, true);
    assert.equal(patched.body.client.max_concurrent, 2);
    const live = await h.call('GET', `/api/usage/${id}/current`, { key });
    assert.equal(live.body.tier, 'premium', 'the change applies to the live key at once');
    assert.equal(live.body.budget_usd, 5);
    assert.equal(live.body.max_concurrent, 2);

    // Back to the tier default with null.
    const reset = await h.call('PATCH', `/admin/clients/${id}`, { key: admin, json: { monthly_budget_usd: null } });
    assert.equal(reset.body.client.monthly_budget_usd, 1000);
    assert.equal(reset.body.client.custom_budget, false);

    const del = await h.call('DELETE', `/admin/clients/${id}`, { key: admin });
    assert.equal(del.status, 200);
    assert.deepEqual(del.body, { deleted: id });
    assertEnvelope(await h.call('GET', `/admin/clients/${id}`, { key: admin }), 404, 'NOT_FOUND');
    assertEnvelope(await h.call('GET', `/api/usage/${id}/current`, { key }), 401, 'UNAUTHORIZED');
    assertEnvelope(await h.call('DELETE', `/admin/clients/${id}`, { key: admin }), 404, 'NOT_FOUND');
  });

  test('client validation: unknown tier is named, unknown fields are named, negative budget refused', async () => {
    const bad = await h.call('POST', '/admin/clients', { key: admin, json: { name: 'X', tier: 'platinum' } });
    assertEnvelope(bad, 400, 'VALIDATION_ERROR');
    assert.match(bad.body.error.message, /platinum/);
    const extra = await h.call('POST', '/admin/clients', { key: admin, json: { name: 'X', tier: 'basic', colour: 'red' } });
    assertEnvelope(extra, 400, 'VALIDATION_ERROR');
    assert.match(extra.body.error.message, /colour/);
    const neg = await h.call('POST', '/admin/clients', { key: admin, json: { name: 'X', tier: 'basic', monthly_budget_usd: -1 } });
    assertEnvelope(neg, 400, 'VALIDATION_ERROR');
    assert.match(neg.body.error.message, /monthly_budget_usd/);
    const patchTier = await h.call('PATCH', `/admin/clients/${(await h.createClient('basic')).id}`, { key: admin, json: { tier: 'gold' } });
    assertEnvelope(patchTier, 400, 'VALIDATION_ERROR');
    assert.match(patchTier.body.error.message, /gold/);
    assertEnvelope(await h.call('PATCH', '/admin/clients/cl_missing', { key: admin, json: { name: 'y' } }), 404, 'NOT_FOUND');
  });

  test('a custom tier from the config file is usable', async () => {
    const tiers = await h.call('GET', '/admin/tiers', { key: admin });
    assert.equal(tiers.status, 200);
    const startup = tiers.body.tiers.find((t: { name: string }) => t.name === 'startup');
    assert.deepEqual(startup, { name: 'startup', priority_points: 15, max_concurrent: 2, monthly_budget_usd: 50 });
    const c = await h.createClient('startup');
    const cur = await h.call('GET', `/api/usage/${c.id}/current`, { key: c.key });
    assert.equal(cur.body.budget_usd, 50);
    assert.equal(cur.body.max_concurrent, 2);
  });

  test('POST /admin/clients/{id}/keys issues another working key; both keys work', async () => {
    const c = await h.createClient('basic');
    const r = await h.call('POST', `/admin/clients/${c.id}/keys`, { key: admin });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.body.client_id, c.id);
    assert.match(r.body.api_key, /^ak_/);
    assert.notEqual(r.body.api_key, c.key);
    assert.ok(r.body.api_key.startsWith(r.body.prefix));
    for (const key of [c.key, r.body.api_key as string]) {
      const u = await h.call('GET', `/api/usage/${c.id}/current`, { key });
      assert.equal(u.status, 200);
    }
    assertEnvelope(await h.call('POST', '/admin/clients/cl_missing/keys', { key: admin }), 404, 'NOT_FOUND');
  });

  test('a client with work in flight cannot be deleted (409)', async () => {
    const c = await h.createClient('basic');
    await h.call('POST', '/admin/scheduler/stop', { key: admin });
    try {
      const sub = await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'summarize', input: { text: ARTICLE } } });
      assert.equal(sub.status, 202);
      assertEnvelope(await h.call('DELETE', `/admin/clients/${c.id}`, { key: admin }), 409, 'CONFLICT');
      assert.equal((await h.call('DELETE', `/api/queue/${sub.body.request_id}`, { key: c.key })).status, 200);
      assert.equal((await h.call('DELETE', `/admin/clients/${c.id}`, { key: admin })).status, 200);
    } finally {
      await h.call('POST', '/admin/scheduler/start', { key: admin });
    }
  });
});

describe('workers', () => {
  test('register an http worker (url) and a subprocess worker (command); list, get, patch, delete', async () => {
    const http = await h.call('POST', '/admin/workers', { key: admin, json: { name: 'sum2', transport: 'http', url: w.summarizer.url, max_concurrency: 4, token: 'secret-token-1' } });
    assert.equal(http.status, 201, http.text);
    assert.equal(http.body.worker.name, 'sum2');
    assert.equal(http.body.worker.url, w.summarizer.url);
    assert.equal(http.body.worker.max_concurrency, 4);
    assert.equal(http.body.worker.has_token, true);
    assert.ok(!http.text.includes('secret-token-1'), 'worker tokens are not echoed');
    assert.equal(http.body.worker.source, 'api');

    const sp = await h.call('POST', '/admin/workers', { key: admin, json: { name: 'local', transport: 'subprocess', command: ['node', 'examples/summarizer/worker.ts'] } });
    assert.equal(sp.status, 201, sp.text);
    assert.deepEqual(sp.body.worker.command, ['node', 'examples/summarizer/worker.ts']);
    assert.equal(sp.body.worker.max_concurrency, 10);
    assert.match(sp.body.token, /^wk_[\w-]{32}$/, 'registered without a token: one is generated and shown once');
    assert.equal(sp.body.worker.has_token, true);
    const spGot = await h.call('GET', '/admin/workers/local', { key: admin });
    assert.ok(!spGot.text.includes(sp.body.token), 'and never shown again');
    assert.equal(http.body.token, undefined, 'a given token is not echoed');
    const rotated = await h.call('POST', '/admin/workers/local/token', { key: admin });
    assert.equal(rotated.status, 201, rotated.text);
    assert.match(rotated.body.token, /^wk_/);
    assert.notEqual(rotated.body.token, sp.body.token);
    assert.equal(h.deps.registry.worker('local')?.token, rotated.body.token, 'the old token stops working at once');

    const dup = await h.call('POST', '/admin/workers', { key: admin, json: { name: 'sum2', transport: 'http', url: w.summarizer.url } });
    assertEnvelope(dup, 409, 'CONFLICT');

    const list = await h.call('GET', '/admin/workers', { key: admin });
    const names = list.body.workers.map((x: { name: string }) => x.name).toSorted();
    assert.deepEqual(names, ['lab', 'local', 'sum2', 'summarizer', 'summarizer-slow']);
    assert.equal(list.body.workers.find((x: { name: string }) => x.name === 'summarizer').source, 'config');

    const got = await h.call('GET', '/admin/workers/local', { key: admin });
    assert.equal(got.status, 200);
    assert.equal(got.body.worker.transport, 'subprocess');
    assert.equal(got.body.worker.running, 0);
    assertEnvelope(await h.call('GET', '/admin/workers/nope', { key: admin }), 404, 'NOT_FOUND');

    const patched = await h.call('PATCH', '/admin/workers/sum2', { key: admin, json: { max_concurrency: 7 } });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.body.worker.max_concurrency, 7);
    assert.equal(patched.body.worker.url, w.summarizer.url, 'unpatched fields are kept');
    // Switching transport drops the other transport's field.
    const switched = await h.call('PATCH', '/admin/workers/local', { key: admin, json: { transport: 'http', url: w.slow.url } });
    assert.equal(switched.status, 200, switched.text);
    assert.equal(switched.body.worker.command, undefined);
    assert.equal(switched.body.worker.url, w.slow.url);

    assert.equal((await h.call('DELETE', '/admin/workers/local', { key: admin })).status, 200);
    assertEnvelope(await h.call('GET', '/admin/workers/local', { key: admin }), 404, 'NOT_FOUND');
    assertEnvelope(await h.call('DELETE', '/admin/workers/local', { key: admin }), 404, 'NOT_FOUND');
  });

  test('validation names the missing or wrong field', async () => {
    const noUrl = await h.call('POST', '/admin/workers', { key: admin, json: { name: 'w-nourl', transport: 'http' } });
    assertEnvelope(noUrl, 400, 'VALIDATION_ERROR');
    assert.match(noUrl.body.error.message, /\burl\b/);
    const noCmd = await h.call('POST', '/admin/workers', { key: admin, json: { name: 'w-nocmd', transport: 'subprocess' } });
    assertEnvelope(noCmd, 400, 'VALIDATION_ERROR');
    assert.match(noCmd.body.error.message, /\bcommand\b/);
    const badUrl = await h.call('POST', '/admin/workers', { key: admin, json: { name: 'w-bad', transport: 'http', url: 'ftp://x' } });
    assertEnvelope(badUrl, 400, 'VALIDATION_ERROR');
    assert.match(badUrl.body.error.message, /\burl\b/);
    const badName = await h.call('POST', '/admin/workers', { key: admin, json: { name: 'has space', transport: 'http', url: w.summarizer.url } });
    assertEnvelope(badName, 400, 'VALIDATION_ERROR');
    assert.match(badName.body.error.message, /\bname\b/);
    const badPatch = await h.call('PATCH', '/admin/workers/summarizer', { key: admin, json: { transport: 'subprocess' } });
    assertEnvelope(badPatch, 400, 'VALIDATION_ERROR');
    assert.match(badPatch.body.error.message, /\bcommand\b/);
    for (const n of ['w-nourl', 'w-nocmd', 'w-bad']) assertEnvelope(await h.call('GET', `/admin/workers/${n}`, { key: admin }), 404, 'NOT_FOUND');
    const still = await h.call('GET', '/admin/workers/summarizer', { key: admin });
    assert.equal(still.body.worker.transport, 'http', 'a refused patch changes nothing');
  });

  test('a worker used by a template cannot be deleted (409 naming the template)', async () => {
    const r = await h.call('DELETE', '/admin/workers/summarizer', { key: admin });
    assertEnvelope(r, 409, 'CONFLICT');
    assert.match(r.body.error.message, /summarize\b/);
    assert.equal((await h.call('GET', '/admin/workers/summarizer', { key: admin })).status, 200);
  });
});

describe('templates', () => {
  test('create, read, patch, run, delete', async () => {
    const c = await h.createClient('standard');
    const created = await h.call('POST', '/admin/templates', {
      key: admin, json: { name: 'digest', worker: 'summarizer', model: 'mini', max_tokens: 50, timeout_ms: 4000, parameters: { style: 'brief' }, description: 'short' },
    });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.template.name, 'digest');
    assert.equal(created.body.template.model, 'mini');
    assert.equal(created.body.template.max_tokens, 50);
    assert.equal(created.body.template.max_attempts, 3, 'default retry policy');
    assert.equal(created.body.template.source, 'api');
    assertEnvelope(await h.call('POST', '/admin/templates', { key: admin, json: { name: 'digest', worker: 'summarizer' } }), 409, 'CONFLICT');

    // A model may be named by its resource too; it is stored as the model.
    const byResource = await h.call('POST', '/admin/templates', { key: admin, json: { name: 'digest-r', worker: 'summarizer', model: 'llm.mini' } });
    assert.equal(byResource.status, 201, byResource.text);
    assert.equal(byResource.body.template.model, 'mini');

    const over = await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'digest', input: { text: ARTICLE }, max_tokens: 60 } });
    assertEnvelope(over, 400, 'VALIDATION_ERROR');
    assert.match(over.body.error.message, /max_tokens/);

    const patched = await h.call('PATCH', '/admin/templates/digest', { key: admin, json: { max_tokens: 80, max_attempts: 5 } });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.body.template.max_tokens, 80);
    assert.equal(patched.body.template.max_attempts, 5);
    assert.equal(patched.body.template.timeout_ms, 4000, 'unpatched fields are kept');
    assert.deepEqual(patched.body.template.parameters, { style: 'brief' });
    const got = await h.call('GET', '/admin/templates/digest', { key: admin });
    assert.deepEqual(got.body.template, patched.body.template);

    const run = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'digest', input: { text: ARTICLE }, max_tokens: 60 } });
    assert.equal(run.status, 200, run.text);
    assert.equal(run.body.status, 'COMPLETED');
    assert.equal(run.body.max_tokens, 60);
    assert.equal(run.body.max_attempts, 5);

    const list = await h.call('GET', '/admin/templates', { key: admin });
    assert.ok(list.body.templates.some((t: { name: string }) => t.name === 'digest'));

    assert.equal((await h.call('DELETE', '/admin/templates/digest', { key: admin })).status, 200);
    assertEnvelope(await h.call('GET', '/admin/templates/digest', { key: admin }), 404, 'NOT_FOUND');
    assertEnvelope(await h.call('DELETE', '/admin/templates/digest', { key: admin }), 404, 'NOT_FOUND');
    const gone = await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'digest', input: { text: ARTICLE } } });
    assertEnvelope(gone, 400, 'VALIDATION_ERROR');
    assert.match(gone.body.error.message, /digest/);
  });

  test('unknown worker, model and resource are each named', async () => {
    const worker = await h.call('POST', '/admin/templates', { key: admin, json: { name: 't-w', worker: 'ghost-worker' } });
    assertEnvelope(worker, 400, 'VALIDATION_ERROR');
    assert.match(worker.body.error.message, /worker/);
    assert.match(worker.body.error.message, /ghost-worker/);

    const model = await h.call('POST', '/admin/templates', { key: admin, json: { name: 't-m', worker: 'summarizer', model: 'gpt-9' } });
    assertEnvelope(model, 400, 'VALIDATION_ERROR');
    assert.match(model.body.error.message, /model/);
    assert.match(model.body.error.message, /gpt-9/);

    const res = await h.call('POST', '/admin/templates', { key: admin, json: { name: 't-r', worker: 'summarizer', resources: { pigeons: 2 } } });
    assertEnvelope(res, 400, 'VALIDATION_ERROR');
    assert.match(res.body.error.message, /pigeons/);

    // All three at once: each is named.
    const all = await h.call('POST', '/admin/templates', { key: admin, json: { name: 't-all', worker: 'ghost-worker', model: 'gpt-9', resources: { pigeons: 2 } } });
    assertEnvelope(all, 400, 'VALIDATION_ERROR');
    for (const s of ['ghost-worker', 'gpt-9', 'pigeons']) assert.match(all.body.error.message, new RegExp(s));

    const tokensNoModel = await h.call('POST', '/admin/templates', { key: admin, json: { name: 't-x', worker: 'summarizer', max_tokens: 10 } });
    assertEnvelope(tokensNoModel, 400, 'VALIDATION_ERROR');
    assert.match(tokensNoModel.body.error.message, /max_tokens/);

    const unknownField = await h.call('POST', '/admin/templates', { key: admin, json: { name: 't-u', worker: 'summarizer', cache_ttl: 5 } });
    assertEnvelope(unknownField, 400, 'VALIDATION_ERROR');
    assert.match(unknownField.body.error.message, /cache_ttl/);

    const patch = await h.call('PATCH', '/admin/templates/summarize', { key: admin, json: { worker: 'ghost-worker' } });
    assertEnvelope(patch, 400, 'VALIDATION_ERROR');
    assert.match(patch.body.error.message, /ghost-worker/);
    assertEnvelope(await h.call('PATCH', '/admin/templates/missing', { key: admin, json: { max_tokens: 3 } }), 404, 'NOT_FOUND');

    for (const n of ['t-w', 't-m', 't-r', 't-all', 't-x', 't-u']) assertEnvelope(await h.call('GET', `/admin/templates/${n}`, { key: admin }), 404, 'NOT_FOUND');
    assert.equal((await h.call('GET', '/admin/templates/summarize', { key: admin })).body.template.worker, 'summarizer');
  });

  test('a template with work in flight cannot be deleted (409)', async () => {
    const c = await h.createClient('standard');
    await h.call('POST', '/admin/scheduler/stop', { key: admin });
    try {
      const sub = await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'summarize-slow', input: { text: ARTICLE } } });
      assert.equal(sub.status, 202);
      assertEnvelope(await h.call('DELETE', '/admin/templates/summarize-slow', { key: admin }), 409, 'CONFLICT');
      await h.call('DELETE', `/api/queue/${sub.body.request_id}`, { key: c.key });
    } finally {
      await h.call('POST', '/admin/scheduler/start', { key: admin });
    }
    assert.equal((await h.call('GET', '/admin/templates/summarize-slow', { key: admin })).status, 200);
  });
});

describe('template changes and queued work', () => {
  test(
    'PATCH with part of `retry` keeps the other retry fields',
    async () => {
      const original = (await h.call('GET', '/admin/templates/lab', { key: admin })).body.template.retry;
      assert.deepEqual(original, { base_delay_ms: 10, max_delay_ms: 40, factor: 2 });
      const r = await h.call('PATCH', '/admin/templates/lab', { key: admin, json: { retry: { factor: 3 } } });
      assert.equal(r.status, 200, r.text);
      try {
        assert.deepEqual(r.body.template.retry, { base_delay_ms: 10, max_delay_ms: 40, factor: 3 });
      } finally {
        await h.call('PATCH', '/admin/templates/lab', { key: admin, json: { retry: original } });
      }
    },
  );

  test(
    'a PATCH applies to requests admitted from then on, not to ones already queued (as the route documents)',
    async () => {
      const c = await h.createClient('standard');
      assert.equal((await h.call('POST', '/admin/templates', { key: admin, json: { name: 'later', worker: 'lab', timeout_ms: 5000, max_attempts: 1 } })).status, 201);
      await h.call('POST', '/admin/scheduler/stop', { key: admin });
      let id: string;
      try {
        id = (await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'later', input: { mode: 'slow', ms: 300 } } })).body.request_id;
        assert.equal((await h.call('PATCH', '/admin/templates/later', { key: admin, json: { timeout_ms: 50 } })).status, 200);
      } finally {
        await h.call('POST', '/admin/scheduler/start', { key: admin });
      }
      const x = await h.waitTerminal(id, c.key);
      assert.equal(x.status, 'COMPLETED', `admitted under timeout_ms 5000, got ${JSON.stringify(x.error)}`);
    },
  );
});

describe('workers registered through the API serve requests at once', () => {
  test('a subprocess worker (the keywords example) runs a template created through the API', async () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const reg = await h.call('POST', '/admin/workers', {
      key: admin, json: { name: 'keywords', transport: 'subprocess', command: [`${root}node_modules/.bin/node`, `${root}examples/keywords/worker.ts`] },
    });
    assert.equal(reg.status, 201, reg.text);
    assert.equal((await h.call('POST', '/admin/templates', { key: admin, json: { name: 'keywords', worker: 'keywords', model: 'mini', max_tokens: 40 } })).status, 201);
    const c = await h.createClient('standard');
    const r = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'keywords', input: { text: ARTICLE, limit: 3 } } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.status, 'COMPLETED', JSON.stringify(r.body.error));
    assert.equal(r.body.output.keywords.length, 3);
    assert.ok(r.body.usage.tokens.input > 0);
    assert.ok(r.body.cost_usd > 0);
    assert.equal(r.body.progress.percent, 100);
  });
});

describe('tiers and resources', () => {
  test('GET /admin/resources lists config resources with prices and live levels', async () => {
    const r = await h.call('GET', '/admin/resources', { key: admin });
    assert.equal(r.status, 200);
    const tiny = r.body.resources.find((x: { name: string }) => x.name === 'llm.tiny');
    assert.equal(tiny.kind, 'tokens');
    assert.equal(tiny.model, 'tiny');
    assert.equal(tiny.capacity, TINY_CAPACITY);
    assert.equal(typeof tiny.level, 'number');
    const gpt4 = r.body.resources.find((x: { name: string }) => x.name === 'openai.gpt-4');
    assert.equal(gpt4.capacity, 10_000, 'default resources stay alongside the configured ones');
    assert.equal(gpt4.cost_per_unit_usd, 0.03 / 1000);
  });
});

test('no request caused an internal error', () => {
  assert.deepEqual(h.internalErrors, []);
});
