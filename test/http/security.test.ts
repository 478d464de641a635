/**
 * Issue 9, probe finding 6 (leaks): worker URLs with `user:pass@` showed the
 * password; health probes and transport detection followed redirects to any
 * host; the database was readable by every local user; worker tokens were
 * stored in plain text.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { pino } from 'pino';
import { after, before, describe, test } from 'node:test';
import { defineWorker, serveHttp, type HttpWorkerServer } from '../../packages/worker/src/index.ts';
import { buildAllot } from '../../src/boot.ts';
import { ConfigError } from '../../src/config/resolve.ts';
import { assertEnvelope, startHarness, writeConfig } from '../helpers/app-harness.ts';

const listen = async (s: Server): Promise<string> => {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
};

describe('redirects are not followed', () => {
  let elsewhere: Server;
  let redirector: Server;
  let hits = 0;
  let elsewhereUrl = '';
  let redirectorUrl = '';

  before(async () => {
    elsewhere = createServer((_req, res) => {
      hits++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'healthy', capabilities: { protocol: 'allot-direct/1' } }));
    });
    elsewhereUrl = await listen(elsewhere);
    redirector = createServer((req, res) => res.writeHead(302, { location: `${elsewhereUrl}${req.url}` }).end());
    redirectorUrl = await listen(redirector);
  });

  after(async () => {
    elsewhere?.close();
    redirector?.close();
  });

  test('transport detection and health probes treat a redirect as a failure, and never reach its target', async () => {
    const h = await startHarness({ worker_health: { interval_ms: 60_000, timeout_ms: 2_000 } });
    try {
      const detect = await h.call('POST', '/admin/workers', { key: h.adminKey, json: { name: 'moved', url: `${redirectorUrl}/` } });
      assertEnvelope(detect, 400, 'VALIDATION_ERROR');
      assert.match(detect.body.error.message, /redirect/);
      const reg = await h.call('POST', '/admin/workers', { key: h.adminKey, json: { name: 'moved', transport: 'http', url: `${redirectorUrl}/`, token: 'worker-token-0123456789' } });
      assert.equal(reg.status, 201, reg.text);
      const probe = await h.call('POST', '/admin/workers/moved/probe', { key: h.adminKey });
      assert.equal(probe.status, 200, probe.text);
      assert.match(JSON.stringify(probe.body), /redirect/);
      assert.equal(hits, 0, 'the redirect target was never asked (nor sent the worker token)');
    } finally {
      await h.close();
    }
  });

  test('dispatch does not follow them either, direct or v2: the request fails and the target is never asked', async () => {
    const h = await startHarness({
      worker_health: { interval_ms: 60_000 },
      workers: { direct: { transport: 'http', url: `${redirectorUrl}/`, token: 'worker-token-0123456789' }, legacy: { transport: 'v2', url: `${redirectorUrl}/`, token: 'worker-token-0123456789' } },
      templates: { direct: { worker: 'direct', max_attempts: 1 }, legacy: { worker: 'legacy', max_attempts: 1 } },
    });
    try {
      const c = await h.createClient('standard');
      for (const template of ['direct', 'legacy']) {
        const r = await h.call('POST', '/api/execute', { key: c.key, json: { template, input: { text: 'for the worker only' } } });
        assert.equal(r.body.status, 'FAILED', `${template}: ${r.text}`);
      }
      assert.equal(hits, 0, 'the redirect target was never asked (nor sent the job or the worker token)');
    } finally {
      await h.close();
    }
  });
});

describe('passwords in worker URLs are not shown', () => {
  test('GET /admin/workers, the registration answer and error messages show user:***@', async () => {
    const h = await startHarness({ templates: {} });
    try {
      const url = 'http://ops:s3cret-pass@127.0.0.1:9/';
      const reg = await h.call('POST', '/admin/workers', { key: h.adminKey, json: { name: 'basic-auth', transport: 'http', url } });
      assert.equal(reg.status, 201, reg.text);
      assert.ok(!reg.text.includes('s3cret-pass'), reg.text);
      assert.match(reg.text, /ops:\*\*\*@127\.0\.0\.1:9/);
      for (const path of ['/admin/workers', '/admin/workers/basic-auth', '/admin/dashboard', '/admin/audit']) {
        const r = await h.call('GET', path, { key: h.adminKey });
        assert.equal(r.status, 200, `${path}: ${r.text}`);
        assert.ok(!r.text.includes('s3cret-pass'), `${path} shows the password`);
      }
      // A client whose request fails on that worker reads the error, not the password.
      await h.call('POST', '/admin/templates', { key: h.adminKey, json: { name: 'basic', worker: 'basic-auth', max_attempts: 1, timeout_ms: 2_000 } });
      const c = await h.createClient('standard');
      const r = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'basic', input: {} } });
      assert.equal(r.body.status, 'FAILED', r.text);
      assert.equal(r.body.error.code, 'WORKER_UNAVAILABLE');
      assert.ok(!r.text.includes('s3cret-pass'), r.text);
    } finally {
      await h.close();
    }
  });
});

describe('a worker URL with user:password', () => {
  const USER = 'ops';
  const PASS = 's3cret-pass';
  const BASIC = `Basic ${Buffer.from(`${USER}:${PASS}`).toString('base64')}`;
  let gate: Server;
  let port = 0;
  const refused: string[] = [];

  before(async () => {
    // A worker behind HTTP Basic auth, speaking both protocols: /health, POST / (direct), and the v2 calls.
    gate = createServer((req, res) => {
      const answer = (status: number, body: unknown): void => void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      req.resume();
      req.on('end', () => {
        if (req.headers.authorization !== BASIC) {
          refused.push(`${req.method} ${req.url} ${req.headers.authorization ?? '(none)'}`);
          return answer(401, { error: 'basic auth required' });
        }
        if (req.url === '/health') return answer(200, { status: 'healthy' });
        if (req.url === '/') return answer(200, { success: true, output: { via: 'http' }, usage: { tokens: { input: 0, output: 0 } } });
        if (req.url === '/api/handshake') return answer(200, { status: 'ready' });
        if (req.url === '/api/process') return answer(200, { success: true, output_ref: { storage_type: 'inline', inline_data: { via: 'v2' } }, metrics: { tokens_used: 1 } });
        return answer(200, {});
      });
    });
    port = Number(new URL(await listen(gate)).port);
  });

  after(() => {
    gate?.close();
  });

  test('reaches the worker as Basic auth in probes, detection and v2 calls (fetch refuses them in the URL), and never shows the password', async () => {
    const url = `http://${USER}:${PASS}@127.0.0.1:${port}/`;
    const closed = `http://${USER}:${PASS}@127.0.0.1:9/`;
    const h = await startHarness({
      worker_health: { interval_ms: 60_000, timeout_ms: 2_000 },
      workers: { 'basic-http': { transport: 'http', url }, 'basic-v2': { transport: 'v2', url }, 'basic-gone': { transport: 'v2', url: closed } },
      templates: { direct: { worker: 'basic-http', max_attempts: 1 }, legacy: { worker: 'basic-v2', max_attempts: 1 }, gone: { worker: 'basic-gone', max_attempts: 1, timeout_ms: 2_000 } },
    });
    try {
      const shown: string[] = [];
      // Detection, when registered without a transport.
      const reg = await h.call('POST', '/admin/workers', { key: h.adminKey, json: { name: 'detected', url } });
      shown.push(reg.text);
      assert.equal(reg.status, 201, reg.text);
      assert.equal(reg.body.worker.transport, 'http');
      for (const name of ['basic-http', 'basic-v2']) {
        const probe = await h.call('POST', `/admin/workers/${name}/probe`, { key: h.adminKey });
        shown.push(probe.text);
        assert.equal(probe.body.health.status, 'healthy', probe.text);
      }
      const c = await h.createClient('standard');
      for (const [template, via] of [['direct', 'http'], ['legacy', 'v2']] as const) {
        const r = await h.call('POST', '/api/execute', { key: c.key, json: { template, input: {} } });
        shown.push(r.text);
        assert.equal(r.body.status, 'COMPLETED', r.text);
        assert.deepEqual(r.body.output, { via });
      }
      assert.deepEqual(refused, [], 'every call carried the credentials');

      // Unreachable: what the client and the operator read names the worker, not its password.
      const failed = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'gone', input: {} } });
      assert.equal(failed.body.status, 'FAILED', failed.text);
      assert.equal(failed.body.error.code, 'WORKER_UNAVAILABLE', failed.text);
      shown.push(failed.text, (await h.call('POST', '/admin/workers/basic-gone/probe', { key: h.adminKey })).text);
      const undetectable = await h.call('POST', '/admin/workers', { key: h.adminKey, json: { name: 'undetectable', url: closed } });
      assert.equal(undetectable.status, 400, undetectable.text);
      shown.push(undetectable.text);
      for (const path of ['/admin/workers', '/admin/dashboard', '/admin/audit?limit=1000']) shown.push((await h.call('GET', path, { key: h.adminKey })).text);
      for (const text of shown) assert.ok(!text.includes(PASS), `shows the password: ${text.slice(0, 400)}`);
    } finally {
      await h.close();
    }
  });
});

describe('files and secrets at rest', () => {
  let worker: HttpWorkerServer;
  const TOKEN = `wt-${randomUUID()}`;

  before(async () => {
    worker = await serveHttp(defineWorker({ name: 'private', handler: () => ({ ok: true }) }), { token: TOKEN });
  });

  after(async () => {
    await worker?.close();
  });

  test('the database is 0600 in a folder Allot creates 0700; worker tokens are stored sealed, and work after a restart', async () => {
    const root = mkdtempSync(join(tmpdir(), 'allot-sec-'));
    const db = join(root, 'nested', 'data', 'allot.db');
    const env = { ALLOT_DB: db, ALLOT_SECRET_KEY: 'a-long-secret-key-for-tests-0123' };
    const config = { workers: { private: { transport: 'http', url: worker.url, token: TOKEN } }, templates: { run: { worker: 'private' } } };
    try {
      const h = await startHarness(config, { env });
      const c = await h.createClient('standard');
      assert.equal((await h.call('POST', '/api/execute', { key: c.key, json: { template: 'run', input: {} } })).body.status, 'COMPLETED', 'the token is sent to the worker');
      assert.equal((await h.call('GET', '/internal/reservations', { key: TOKEN })).status, 200, 'and accepted from it');
      await h.close();

      assert.equal(statSync(join(root, 'nested', 'data')).mode & 0o777, 0o700);
      for (const f of readdirSync(join(root, 'nested', 'data'))) {
        if (f.startsWith('allot.db')) assert.equal(statSync(join(root, 'nested', 'data', f)).mode & 0o777, 0o600, f);
        const bytes = readFileSync(join(root, 'nested', 'data', f));
        assert.ok(!bytes.includes(TOKEN), `${f} holds the token in plain text`);
      }
      const raw = new DatabaseSync(db, { readOnly: true });
      const row = raw.prepare("SELECT def FROM workers WHERE name = 'private'").get() as { def: string };
      raw.close();
      assert.match((JSON.parse(row.def) as { token: string }).token, /^enc:v1:/);

      // A restart with the same key: the worker still authenticates and is still sent its token.
      const again = await startHarness(config, { env });
      try {
        assert.equal((await again.call('GET', '/internal/reservations', { key: TOKEN })).status, 200);
        assert.equal((await again.call('POST', '/api/execute', { key: c.key, json: { template: 'run', input: {} } })).body.status, 'COMPLETED');
      } finally {
        await again.close();
      }

      // A different key cannot open them: start-up stops and names ALLOT_SECRET_KEY, dropping nothing.
      await assert.rejects(startHarness(config, { env: { ...env, ALLOT_SECRET_KEY: 'another-key-entirely-0123456789' } }), (err: unknown) => err instanceof ConfigError && /ALLOT_SECRET_KEY/.test(err.message));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test('while Allot runs, the database and its -wal and -shm are 0600; a folder that existed is left as it is, with a warning naming it when others can read it', async () => {
    const root = mkdtempSync(join(tmpdir(), 'allot-sec-'));
    const shared = join(root, 'shared');
    mkdirSync(shared, { mode: 0o755 });
    chmodSync(shared, 0o755);
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    try {
      const { config, dir } = writeConfig({}, { ALLOT_DB: join(shared, 'allot.db') });
      rmSync(dir, { recursive: true, force: true }); // Only its config file is there, read already.
      const allot = await buildAllot(config, { logger });
      try {
        await allot.start();
        const c = await allot.app.request('/admin/clients', { method: 'POST', headers: { authorization: `Bearer ${config.adminKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'x', tier: 'basic' }) });
        assert.equal(c.status, 201);
        await allot.store.durable();
        const files = readdirSync(shared).filter((f) => f.startsWith('allot.db')).toSorted();
        assert.deepEqual(files, ['allot.db', 'allot.db-shm', 'allot.db-wal']);
        for (const f of [...files, 'secret.key']) assert.equal(statSync(join(shared, f)).mode & 0o777, 0o600, f);
      } finally {
        await allot.stop();
      }
      assert.equal(statSync(shared).mode & 0o777, 0o755, 'a folder Allot did not create keeps its mode');
      assert.ok(lines.some((l) => l.includes(shared) && /other users/.test(l)), `no warning naming ${shared}: ${lines.join('')}`);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test('tokens an older version stored in plain text are sealed at the next start; without ALLOT_SECRET_KEY a key file beside the database is used', async () => {
    const root = mkdtempSync(join(tmpdir(), 'allot-sec-'));
    const db = join(root, 'allot.db');
    try {
      const h = await startHarness({ workers: { private: { transport: 'http', url: worker.url, token: TOKEN } } }, { env: { ALLOT_DB: db } });
      await h.close();
      assert.equal(statSync(join(root, 'secret.key')).mode & 0o777, 0o600, 'the generated key file is private');
      // As an older Allot left it: the token in plain text.
      const rw = new DatabaseSync(db);
      const def = JSON.parse((rw.prepare("SELECT def FROM workers WHERE name = 'private'").get() as { def: string }).def) as Record<string, unknown>;
      rw.prepare("UPDATE workers SET def = ? WHERE name = 'private'").run(JSON.stringify({ ...def, token: TOKEN }));
      rw.close();
      const again = await startHarness({}, { env: { ALLOT_DB: db } });
      try {
        assert.equal((await again.call('GET', '/internal/reservations', { key: TOKEN })).status, 200);
      } finally {
        await again.close();
      }
      const ro = new DatabaseSync(db, { readOnly: true });
      const sealed = JSON.parse((ro.prepare("SELECT def FROM workers WHERE name = 'private'").get() as { def: string }).def) as { token: string };
      ro.close();
      assert.match(sealed.token, /^enc:v1:/, 'sealed at start');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test('setting ALLOT_SECRET_KEY after a start on the key file keeps the tokens: they are read with the file’s key and sealed again under the new one', async () => {
    const root = mkdtempSync(join(tmpdir(), 'allot-sec-'));
    const db = join(root, 'allot.db');
    const config = { workers: { private: { transport: 'http', url: worker.url, token: TOKEN } } };
    const readSealed = (): string => {
      const ro = new DatabaseSync(db, { readOnly: true });
      const t = (JSON.parse((ro.prepare("SELECT def FROM workers WHERE name = 'private'").get() as { def: string }).def) as { token: string }).token;
      ro.close();
      return t;
    };
    try {
      await (await startHarness(config, { env: { ALLOT_DB: db } })).close();
      const underFile = readSealed();
      const env = { ALLOT_DB: db, ALLOT_SECRET_KEY: 'the-operators-own-key-0123456789' };
      const h = await startHarness({}, { env });
      try {
        assert.equal((await h.call('GET', '/internal/reservations', { key: TOKEN })).status, 200);
      } finally {
        await h.close();
      }
      assert.notEqual(readSealed(), underFile, 'sealed again');
      // Now under ALLOT_SECRET_KEY alone: without the key file it still starts and authenticates.
      rmSync(join(root, 'secret.key'));
      const again = await startHarness({}, { env });
      try {
        assert.equal((await again.call('GET', '/internal/reservations', { key: TOKEN })).status, 200);
      } finally {
        await again.close();
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test('sealing plain tokens at start leaves none of them in the database file (the rows they were in are overwritten, not just freed)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'allot-sec-'));
    const db = join(root, 'allot.db');
    const tokens = Array.from({ length: 6 }, (_, i) => `plain-${i}-${randomUUID()}`);
    try {
      await (await startHarness({}, { env: { ALLOT_DB: db } })).close();
      // As an older Allot wrote them: each worker inserted with its token in plain text.
      const rw = new DatabaseSync(db);
      tokens.forEach((token, i) => {
        const def = { name: `w${i}`, transport: 'http', url: `http://127.0.0.1:${9000 + i}/`, maxConcurrency: 10, token, capabilities: [], source: 'api' };
        rw.prepare('INSERT INTO workers (name, def, updated_at) VALUES (?, ?, ?)').run(def.name, JSON.stringify(def), Date.now());
      });
      rw.close();
      const bytes = (): Buffer => Buffer.concat(readdirSync(root).map((f) => readFileSync(join(root, f))));
      assert.ok(tokens.every((t) => bytes().includes(t)), 'the setup left them in plain text');

      const again = await startHarness({}, { env: { ALLOT_DB: db } });
      try {
        for (const t of tokens) assert.equal((await again.call('GET', '/internal/reservations', { key: t })).status, 200, 'still accepted');
      } finally {
        await again.close();
      }
      // Half a token is a leak too (a freed cell may be partly overwritten by its successor).
      const left = tokens.filter((t) => bytes().includes(t.slice(0, t.length / 2)) || bytes().includes(t.slice(t.length / 2)));
      assert.deepEqual(left, [], 'plain tokens (or halves of them) left in the files');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
