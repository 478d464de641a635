/**
 * `npm run dev:cf` (src/cf/dev.ts) as a user runs it, a real child process:
 * Allot served from a local workerd on the port asked for (0 here: any free
 * one), with the default tiers and resources, its D1 database and objects
 * kept in ALLOT_CF_STATE across a restart; and `npm run build:cf` writes the
 * bundle wrangler.toml deploys.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { DEFAULT_RESOURCES } from '../../src/config/defaults.ts';
import { Client, NODE, ROOT, startProcess, tempDir, type Proc } from '../helpers/proc.ts';

const ADMIN = 'dev-cf-admin-key-0123456789';
const state = tempDir('allot-cf-state-');
const procs: Proc[] = [];
const clients: Client[] = [];

after(async () => {
  for (const c of clients) c.close();
  for (const p of procs) await p.stop('SIGINT');
  rmSync(state, { recursive: true, force: true });
});

async function devCf(): Promise<{ proc: Proc; url: string }> {
  const proc = await startProcess([join(ROOT, 'src/cf/dev.ts')], {
    env: { ALLOT_PORT: '0', ALLOT_ADMIN_KEY: ADMIN, ALLOT_CF_STATE: state, ALLOT_LOG_LEVEL: 'warn' },
    ready: /listening on (http:\/\/\S+);/, timeoutMs: 60_000,
  });
  procs.push(proc);
  return { proc, url: /listening on (http:\/\/\S+);/.exec(proc.output())?.[1] as string };
}

test('serves the API with the default tiers and resources, and keeps its data across a restart', async () => {
  const first = await devCf();
  const admin = new Client(first.url, ADMIN);
  clients.push(admin);
  assert.equal((await admin.request('GET', '/health')).status, 200);
  const tiers = await admin.request<{ tiers: { name: string }[] }>('GET', '/admin/tiers');
  assert.deepEqual(tiers.body.tiers.map((t) => t.name).toSorted(), ['basic', 'enterprise', 'premium', 'standard']);
  const res = await admin.request<{ resources: { name: string }[] }>('GET', '/admin/resources');
  assert.deepEqual(res.body.resources.map((r) => r.name).toSorted(), Object.keys(DEFAULT_RESOURCES).toSorted());
  const made = await admin.request<{ client: { id: string } }>('POST', '/admin/clients', { name: 'kept', tier: 'basic' });
  assert.equal(made.status, 201);
  await first.proc.stop('SIGINT');
  procs.length = 0;

  const second = await devCf();
  const again = new Client(second.url, ADMIN);
  clients.push(again);
  const c = await again.request<{ client?: { name: string }; name?: string }>('GET', `/admin/clients/${made.body.client.id}`);
  assert.equal(c.status, 200, 'the client made before the restart is still there');
});

test('npm run build:cf writes the bundle wrangler.toml deploys', () => {
  const r = spawnSync(NODE, [join(ROOT, 'src/cf/bundle-cli.ts')], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = join(ROOT, 'dist/cf/worker.mjs');
  assert.ok(existsSync(out) && statSync(out).size > 1e6, r.stdout);
  assert.match(r.stdout, /dist\/cf\/worker\.mjs: [\d.]+ MB/);
});
