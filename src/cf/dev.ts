/**
 * `npm run dev:cf`: Allot as a Cloudflare Worker on this machine, in a local
 * workerd (miniflare, the runtime Workers use) with D1 and Durable Objects,
 * kept in ALLOT_CF_STATE (default .allot-cf/) across restarts.
 *
 * Environment, as for `npm start`: ALLOT_PORT (default 8788), ALLOT_HOST
 * (127.0.0.1), ALLOT_ADMIN_KEY, ALLOT_CONFIG (a JSON config file, handed to
 * the Worker as ALLOT_CONFIG_JSON), and every other ALLOT_* variable, given
 * to the Worker as a variable. The bindings are wrangler.toml's.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Miniflare } from 'miniflare';
import { bundleForWorkers, COMPATIBILITY_DATE, COMPATIBILITY_FLAGS } from './build.ts';
import { WORKER_BINDINGS } from './bindings.ts';

const root = new URL('../../', import.meta.url).pathname;
const env = process.env;
const port = Number(env.ALLOT_PORT || 8788);
const host = env.ALLOT_HOST || '127.0.0.1';
const state = env.ALLOT_CF_STATE || join(root, '.allot-cf');
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`ALLOT_PORT: expected a port number, got "${env.ALLOT_PORT}"`);
  process.exit(1);
}

const vars: Record<string, string> = {};
for (const [k, v] of Object.entries(env)) if (k.startsWith('ALLOT_') && v !== undefined && !['ALLOT_PORT', 'ALLOT_HOST', 'ALLOT_CONFIG', 'ALLOT_CF_STATE'].includes(k)) vars[k] = v;
if (env.ALLOT_CONFIG) {
  try {
    vars.ALLOT_CONFIG_JSON = JSON.stringify(JSON.parse(readFileSync(env.ALLOT_CONFIG, 'utf8')));
  } catch (err) {
    console.error(`ALLOT_CONFIG: cannot read ${env.ALLOT_CONFIG} as JSON: ${(err as Error).message}`);
    process.exit(1);
  }
}

const bundle = await bundleForWorkers(join(root, 'src/cf/worker.ts'));
const mf = new Miniflare({
  compatibilityDate: COMPATIBILITY_DATE,
  compatibilityFlags: [...COMPATIBILITY_FLAGS],
  modules: [{ type: 'ESModule', path: 'worker.mjs', contents: bundle.code }],
  d1Databases: [WORKER_BINDINGS.d1],
  durableObjects: Object.fromEntries(WORKER_BINDINGS.durableObjects.map((d) => [d.binding, { className: d.className, useSQLite: true }])),
  bindings: vars,
  d1Persist: join(state, 'd1'),
  durableObjectsPersist: join(state, 'do'),
  host, port,
});
const url = await mf.ready;
// Allot starts on the first request: make it now, so that a configuration error shows at once.
const health = await fetch(new URL('/health', url));
if (!health.ok) {
  console.error(`Allot (Workers, local) did not start: ${await health.text()}`);
  await mf.dispose();
  process.exit(1);
}
console.log(`Allot (Workers, local workerd) listening on ${url.href.replace(/\/$/, '')}; D1 and Durable Objects kept in ${state}`);
const stop = async (): Promise<void> => {
  await mf.dispose();
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
