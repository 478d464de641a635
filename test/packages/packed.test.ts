/**
 * The SDKs as a user gets them: `npm pack` builds both packages, a scratch
 * project outside the repository installs the tarballs, and a plain .mjs
 * script (no type stripping) runs under Node 20 and Node 24. It imports
 * `@allot/worker` and `@allot/client`, serves a worker, registers it with a
 * real Allot this test starts, and gets its output back through the client.
 * The install must bring nothing of the server, and a TypeScript consumer
 * must type-check against the shipped declarations.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { startLiveAllot, type LiveAllot } from './allot.ts';

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;
const NODE_20 = '/usr/bin/node';
const PACKAGES = ['@allot/client', '@allot/worker'];

let dir: string;
let app: string;
let allot: LiveAllot;

/** `npm …` in `cwd`; the repository's node_modules/.bin stays first on PATH (npm test puts it there). */
async function npm(args: string[], cwd: string): Promise<string> {
  const { stdout } = await run('npm', args, { cwd, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, npm_config_update_notifier: 'false' } });
  return stdout;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'allot-packed-'));
  const tarballs = join(dir, 'tarballs');
  mkdirSync(tarballs);
  // prepack builds each package (tsc → dist/) before it is packed.
  const packed = JSON.parse(await npm(['pack', '-w', 'packages/worker', '-w', 'packages/client', '--pack-destination', tarballs, '--json'], ROOT)) as { name: string; filename: string }[];
  assert.deepEqual(packed.map((p) => p.name).toSorted(), PACKAGES);
  app = join(dir, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'scratch-app', version: '1.0.0', private: true, type: 'module' }));
  await npm(['install', '--no-audit', '--no-fund', ...packed.map((p) => join(tarballs, p.filename))], app);
  allot = await startLiveAllot({});
});

after(async () => {
  await allot?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Every package installed under `nodeModules`, scoped ones as @scope/name, nested ones too. */
function installed(nodeModules: string): string[] {
  if (!existsSync(nodeModules)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(nodeModules)) {
    if (entry.startsWith('.')) continue;
    const names = entry.startsWith('@') ? readdirSync(join(nodeModules, entry)).map((n) => `${entry}/${n}`) : [entry];
    for (const name of names) out.push(name, ...installed(join(nodeModules, name, 'node_modules')));
  }
  return out;
}

function filesUnder(d: string): string[] {
  return readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? filesUnder(join(d, f)).map((g) => `${f}/${g}`) : [f]));
}

test('the install holds the two packages and nothing else: no server, pg, ioredis or hono', () => {
  const all = installed(join(app, 'node_modules'));
  assert.deepEqual(all.toSorted(), PACKAGES);
  for (const name of PACKAGES) {
    const pkg = JSON.parse(readFileSync(join(app, 'node_modules', name, 'package.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(pkg.private, undefined, `${name} is publishable`);
    assert.equal(pkg.dependencies, undefined, `${name} has no dependencies`);
    assert.equal(pkg.type, 'module');
  }
});

test('each package ships compiled JavaScript with declarations, no TypeScript sources, and imports only its own files (the worker also node: built-ins)', () => {
  for (const name of PACKAGES) {
    const root = join(app, 'node_modules', name);
    const files = filesUnder(root);
    assert.ok(files.includes('dist/index.js') && files.includes('dist/index.d.ts'), `${name}: ${files.join(', ')}`);
    assert.deepEqual(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')), [], `${name} ships TypeScript sources`);
    for (const js of files.filter((f) => f.endsWith('.js'))) {
      const text = readFileSync(join(root, js), 'utf8');
      const specifiers = [...text.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*'([^']+)'/g)].map((m) => m[1] as string);
      for (const spec of specifiers) {
        assert.doesNotMatch(spec, /\.ts$/, `${name}/${js} imports a .ts file: ${spec}`);
        // The worker SDK uses Node's built-ins only; the client not even those (it runs wherever fetch does).
        const allowed = spec.startsWith('./') || (name === '@allot/worker' && spec.startsWith('node:'));
        assert.ok(allowed, `${name}/${js} imports ${spec}`);
      }
    }
    assert.ok(files.some((f) => f.endsWith('.js') && /from '\.\/[^']+\.js'/.test(readFileSync(join(root, f), 'utf8'))), `${name}: no relative import seen, the check above saw nothing`);
    for (const dts of files.filter((f) => f.endsWith('.d.ts'))) assert.ok(files.includes(dts.replace(/\.d\.ts$/, '.js')), `${name}/${dts} has its .js`);
  }
});

test('a TypeScript consumer type-checks against the shipped declarations (and wrong use does not)', async () => {
  writeFileSync(join(app, 'consumer.ts'), [
    "import { AllotClient, AllotError, AllotTimeoutError, type ErrorCode, type Execution } from '@allot/client';",
    "import { defineWorker, WorkerError, type Job } from '@allot/worker';",
    "const client = new AllotClient({ baseUrl: 'http://127.0.0.1:1', apiKey: 'k', timeoutMs: 1000 });",
    "export const status: Promise<Execution<{ upper: string }>> = client.status<{ upper: string }>('id');",
    'export function codeOf(err: unknown): ErrorCode | null {',
    '  if (err instanceof AllotTimeoutError) return null;',
    '  return err instanceof AllotError ? err.code : null;',
    '}',
    "export const known: ErrorCode = 'IDEMPOTENCY_MISMATCH';",
    '// @ts-expect-error not one of the stable codes',
    "export const unknown: ErrorCode = 'NOPE';",
    '// @ts-expect-error a submission needs its input',
    "void client.submit({ template: 't' }, { idempotencyKey: 'k' });",
    'export const worker = defineWorker<{ text: string }, { upper: string }>({',
    "  name: 'w',",
    '  handler: async (job: Job<{ text: string }>) => {',
    "    if (!job.input.text) throw WorkerError.invalidInput('text');",
    '    return { upper: job.input.text.toUpperCase() };',
    '  },',
    '});',
    '',
  ].join('\n'));
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true,
      // The shipped .d.ts files are checked too (no skipLibCheck); node's types come from the repository.
      typeRoots: [join(ROOT, 'node_modules/@types')], types: ['node'],
    },
    files: ['consumer.ts'],
  }));
  try {
    await run(join(ROOT, 'node_modules/.bin/tsc'), ['-p', join(app, 'tsconfig.json')], { cwd: app });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    assert.fail(`tsc failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
});

const SCRIPT = `
import { AllotClient, AllotError } from '@allot/client';
import { defineWorker, serveHttp } from '@allot/worker';
import { setTimeout as sleep } from 'node:timers/promises';

const { ALLOT_URL, ADMIN_KEY, TAG } = process.env;
const admin = async (path, body) => {
  const r = await fetch(ALLOT_URL + path, { method: 'POST', headers: { authorization: 'Bearer ' + ADMIN_KEY, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (r.status !== 201) throw new Error(path + ': ' + r.status + ' ' + (await r.text()));
  return r.json();
};
const worker = defineWorker({
  name: TAG,
  handler: async (job, ctx) => {
    // Reported after the client has opened the event stream (it does at once), so the stream carries it.
    await sleep(800);
    ctx.progress(50, 'half way');
    await sleep(200);
    return { upper: String(job.input.text).toUpperCase(), node: process.version };
  },
});
const server = await serveHttp(worker);
try {
  await admin('/admin/workers', { name: TAG, transport: 'http', url: server.url });
  await admin('/admin/templates', { name: TAG, worker: TAG });
  const { api_key } = await admin('/admin/clients', { name: TAG, tier: 'standard' });
  const client = new AllotClient({ baseUrl: ALLOT_URL, apiKey: api_key });
  const done = await client.executeAndWait({ template: TAG, input: { text: 'hello from ' + process.version } });
  const first = await client.submit({ template: TAG, input: { text: 'again' } }, { idempotencyKey: 'k-' + TAG });
  const repeat = await client.submit({ template: TAG, input: { text: 'again' } }, { idempotencyKey: 'k-' + TAG });
  const events = [];
  for await (const e of client.events(first.request_id)) events.push(e.event === 'progress' ? 'progress:' + e.data.percent : e.event + ':' + e.data.status);
  let code = null;
  try {
    await client.status('no-such-request');
  } catch (err) {
    code = err instanceof AllotError ? err.code : String(err);
  }
  console.log(JSON.stringify({ node: process.version, status: done.status, output: done.output, same: first.request_id === repeat.request_id, created: [first.created, repeat.created], events, code }));
} finally {
  await server.close();
}
`;

async function runUnder(node: string, tag: string): Promise<Record<string, unknown>> {
  writeFileSync(join(app, 'run.mjs'), SCRIPT);
  // Not the repository's environment: only what the script needs (NODE_OPTIONS could turn type stripping or loaders on).
  const env = { PATH: process.env.PATH ?? '', ALLOT_URL: allot.url, ADMIN_KEY: allot.adminKey, TAG: tag };
  let stdout: string;
  try {
    ({ stdout } = await run(node, ['run.mjs'], { cwd: app, env, timeout: 60_000 }));
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return assert.fail(`${node} run.mjs failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Record<string, unknown>;
}

async function checkRun(node: string, major: number, tag: string): Promise<void> {
  const out = await runUnder(node, tag);
  assert.match(String(out.node), new RegExp(`^v${major}\\.`));
  assert.equal(out.status, 'COMPLETED');
  assert.deepEqual(out.output, { upper: `HELLO FROM ${String(out.node).toUpperCase()}`, node: out.node });
  assert.equal(out.same, true, 'the same Idempotency-Key gives the same request');
  assert.deepEqual(out.created, [true, false]);
  const events = out.events as string[];
  assert.ok(events.includes('progress:50'), events.join(','));
  assert.equal(events.at(-1), 'end:COMPLETED');
  assert.equal(out.code, 'NOT_FOUND');
}

test('under Node 24: the installed packages serve a worker and get its output back through the client', async () => {
  assert.match(process.version, /^v24\./, 'the repository runs on Node 24 (node_modules/.bin/node)');
  await checkRun(process.execPath, 24, 'packed-node24');
});

const node20 = existsSync(NODE_20) ? (await run(NODE_20, ['--version'])).stdout.trim() : null;
const skip20 = node20 === null ? `${NODE_20} is absent: no Node 20 on this machine` : node20.startsWith('v20.') ? false : `${NODE_20} is ${node20}, not Node 20`;

test('under Node 20: the same script on plain Node 20, which has no type stripping', { skip: skip20 }, async () => {
  await checkRun(NODE_20, 20, 'packed-node20');
});
