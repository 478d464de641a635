/**
 * The `allot` command line (issue 13, item 4), run as a user runs it (a
 * child process of bin/allot.ts) against a real Allot (a child process on
 * the selected backend) and a real worker on loopback: --help and
 * --version on every command run nothing; operator commands for clients,
 * keys, admin keys, templates, workers and requests (list, show, cancel,
 * resubmit); `allot top`; mistakes named, with exit code 2.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { defineWorker, serveHttp, WorkerError, type HttpWorkerServer } from '../../packages/worker/src/index.ts';
import { ADMIN_KEY, allotFiles, startAllot, type AllotProc } from '../e2e/harness.ts';
import { NODE, ROOT, tempDir } from '../helpers/proc.ts';

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** `allot <args>` with `env` over a clean environment (no ALLOT_* of the test runner's). */
function allot(args: string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<Ran> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ALLOT_')));
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [join(ROOT, 'bin/allot.ts'), ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

describe('--help and --version run nothing', () => {
  const dir = tempDir('allot-cli-help-');
  const db = join(dir, 'never.db');
  const env = { ALLOT_DB: db, ALLOT_PORT: '0' };

  test('--version and version print the version', async () => {
    const { version } = (await import('../../package.json', { with: { type: 'json' } })).default as { version: string };
    for (const args of [['--version'], ['-V'], ['version']]) {
      const r = await allot(args, env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `allot ${version}\n`);
    }
  });

  test('every command with --help prints its usage and exits 0, starting, migrating and calling nothing', async () => {
    const commands = [
      [], ['start'], ['db', 'migrate'], ['config', 'check'], ['migrate', 'import', 'x.db'], ['migrate', 'status'], ['migrate', 'compare'],
      ['clients', 'list'], ['clients', 'create'], ['keys', 'revoke', 'c', 'k'], ['admin-keys', 'create'], ['templates', 'list'], ['workers', 'probe', 'w'],
      ['requests', 'cancel', 'r'], ['requests', 'resubmit'], ['top'],
    ];
    for (const c of commands) {
      // Nothing listens at this URL: a command that ran would fail, not print usage.
      const r = await allot([...c, '--help'], { ...env, ALLOT_URL: 'http://127.0.0.1:9', ALLOT_ADMIN_KEY: 'x'.repeat(20) }, 10_000);
      assert.equal(r.code, 0, `${c.join(' ')} --help: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^Usage: allot${c.length ? ` ${c.filter((x) => !['x.db', 'c', 'k', 'w', 'r'].includes(x)).join(' ')}` : ''}`), c.join(' '));
      assert.doesNotMatch(r.stdout + r.stderr, /listening on|0001 init|cannot reach|configuration OK/i, c.join(' '));
    }
    assert.equal(existsSync(db), false, 'no database was made');
  });

  test('mistakes are named, with exit code 2', async () => {
    const cases: [string[], RegExp][] = [
      [['bogus'], /unknown command 'bogus'/],
      [['clients', 'create', '--name', 'x'], /--tier/],
      [['keys', 'create'], /missing required argument 'client'/],
      [['keys', 'create', 'cl_x', '--expires-in', 'soon'], /--expires-in: "soon" is not a duration/],
      [['admin-keys', 'create', '--role', 'root'], /--role.*root|root.*--role|Allowed choices/s],
      [['requests', 'list', '--limit', '0'], /--limit: "0" is not a positive integer/],
      [['top', '--interval', 'often'], /--interval: "often"/],
      [['clients', 'list', '--url', 'notaurl'], /--url: "notaurl" is not an http\(s\) URL/],
      [['clients', 'list'], /ALLOT_ADMIN_KEY/],
    ];
    for (const [args, re] of cases) {
      const r = await allot(args, { ...env, ...(args[0] === 'clients' && args.length === 2 ? {} : { ALLOT_ADMIN_KEY: 'x'.repeat(20), ALLOT_URL: 'http://127.0.0.1:9' }) });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, re, args.join(' '));
    }
  });
});

describe('operator commands against a running Allot', () => {
  let a: AllotProc;
  let worker: HttpWorkerServer;
  let env: Record<string, string>;

  before(async () => {
    worker = await serveHttp(defineWorker<{ fail?: boolean; text?: string }>({
      name: 'echo', dedupe: false,
      handler: (job) => {
        if (job.input.fail) throw new WorkerError('BAD_INPUT', 'told to fail', { retryable: false });
        return { echo: job.input.text ?? '' };
      },
    }));
    a = await startAllot(allotFiles({ workers: { echo: { transport: 'http', url: worker.url } }, templates: { echo: { worker: 'echo', max_attempts: 1 } } }));
    env = { ALLOT_URL: a.url, ALLOT_ADMIN_KEY: ADMIN_KEY };
  });
  after(async () => {
    await a?.stop();
    await worker?.close();
  });

  const ok = async (args: string[], e: Record<string, string> = env): Promise<string> => {
    const r = await allot(args, e);
    assert.equal(r.code, 0, `allot ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  test('clients: create, list, show, update, delete', async () => {
    const made = JSON.parse(await ok(['clients', 'create', '--name', 'acme', '--tier', 'standard', '--budget', '42.5', '--json'])) as { client: { id: string }; api_key: string };
    const id = made.client.id;
    assert.match(await ok(['clients', 'list']), new RegExp(`${id}\\s+acme\\s+standard\\s+\\$42\\.50`));
    await ok(['clients', 'update', id, '--name', 'acme-2', '--max-concurrent', '3']);
    const shown = await ok(['clients', 'show', id]);
    assert.match(shown, /acme-2/);
    assert.match(shown, /max 3 at once/);
    assert.match(shown, /KEY ID/);
    assert.match(await ok(['clients', 'delete', id]), new RegExp(`deleted ${id}`));
    const gone = await allot(['clients', 'show', id], env);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /NOT_FOUND/);
  });

  test('keys: issue with expiry, list, revoke (then refused by the API)', async () => {
    const c = JSON.parse(await ok(['clients', 'create', '--name', 'k', '--tier', 'standard', '--json'])) as { client: { id: string }; api_key: string };
    const issued = await ok(['keys', 'create', c.client.id, '--expires-in', '30d']);
    const keyId = /issued (key_\w+), expires (\S+)/.exec(issued);
    assert.ok(keyId, issued);
    assert.ok(Math.abs(Date.parse(keyId[2] as string) - Date.now() - 30 * 86_400_000) < 60_000, 'expires in 30 days');
    const listed = await ok(['keys', 'list', c.client.id]);
    assert.equal(listed.trim().split('\n').length, 3, listed);
    assert.match(listed, new RegExp(keyId[1] as string));
    const firstKeyId = (JSON.parse(await ok(['keys', 'list', c.client.id, '--json'])) as { keys: { id: string }[] }).keys[0]?.id as string;
    assert.equal((await a.as(c.api_key).request('GET', '/api/executions')).status, 200);
    assert.match(await ok(['keys', 'revoke', c.client.id, firstKeyId]), /revoked/);
    assert.equal((await a.as(c.api_key).request('GET', '/api/executions')).status, 401);
  });

  test('admin keys: a read-only key lists but cannot change, and the CLI says why', async () => {
    const made = JSON.parse(await ok(['admin-keys', 'create', '--role', 'read-only', '--name', 'oncall', '--json'])) as { admin_key: string; key: { id: string } };
    assert.match(await ok(['admin-keys', 'list']), new RegExp(`${made.key.id}\\s+read-only\\s+oncall`));
    const ro = { ...env, ALLOT_ADMIN_KEY: made.admin_key };
    await ok(['clients', 'list'], ro);
    const refused = await allot(['clients', 'create', '--name', 'no', '--tier', 'standard'], ro);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /FORBIDDEN: .*read-only/);
    await ok(['admin-keys', 'revoke', made.key.id]);
    const revoked = await allot(['clients', 'list'], ro);
    assert.match(revoked.stderr, /UNAUTHORIZED/);
  });

  test('templates and workers: list, show, probe', async () => {
    assert.match(await ok(['templates', 'list']), /echo\s+echo/);
    assert.equal((JSON.parse(await ok(['templates', 'show', 'echo'])) as { template: { name: string } }).template.name, 'echo');
    assert.match(await ok(['workers', 'list']), /echo\s+http\s+http:\/\/127\.0\.0\.1/);
    assert.match(await ok(['workers', 'probe', 'echo']), /echo: healthy, breaker closed/);
  });

  test('requests: list, show (with its timeline), cancel, resubmit; top shows the queue', async () => {
    const c = JSON.parse(await ok(['clients', 'create', '--name', 'req', '--tier', 'standard', '--json'])) as { client: { id: string }; api_key: string };
    const api = a.as(c.api_key);
    const failed = await api.request<{ status: string; request_id: string }>('POST', '/api/execute', { template: 'echo', input: { fail: true }, wait_ms: 10_000 });
    assert.equal(failed.body.status, 'FAILED');
    const list = await ok(['requests', 'list', '--status', 'failed', '--client', c.client.id]);
    assert.match(list, new RegExp(`${failed.body.request_id}\\s+${c.client.id}\\s+echo\\s+FAILED\\s+1/1\\s+\\S+\\s+BAD_INPUT`));
    const shown = await ok(['requests', 'show', failed.body.request_id]);
    assert.match(shown, /FAILED/);
    assert.match(shown, /PENDING → PREPARING|· → PENDING/, 'the audit timeline');
    assert.match(shown, /→ FAILED/);
    const re = await ok(['requests', 'resubmit', failed.body.request_id]);
    assert.match(re, new RegExp(`${failed.body.request_id}\\s+\\S+\\s+submitted`));

    assert.equal((await a.admin.request('POST', '/admin/scheduler/stop')).status, 200);
    try {
      const queued = await api.request<{ request_id: string }>('POST', '/api/queue/enqueue', { template: 'echo', input: { text: 'hi' } });
      const frame = await ok(['top', '--once']);
      assert.match(frame, /scheduler paused/);
      assert.match(frame, /queue\s+1 pending/);
      assert.match(frame, /echo\s+http\s+healthy\s+closed/);
      assert.match(await ok(['requests', 'cancel', queued.body.request_id]), /CANCELLED/);
      const cancelled = await api.request<{ status: string }>('GET', `/api/execution/${queued.body.request_id}`);
      assert.equal(cancelled.body.status, 'CANCELLED');
    } finally {
      await a.admin.request('POST', '/admin/scheduler/start');
    }
  });
});
