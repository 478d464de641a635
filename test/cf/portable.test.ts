/**
 * Issue 12's first rule: the same HTTP routes run on Node and in workerd
 * (Cloudflare Workers), no fork. The HTTP app (src/http/app.ts, every route
 * and its zod schemas) is bundled for workerd and loaded in a local workerd
 * (miniflare, from npm): its module graph may use only what workerd's
 * nodejs_compat provides, and the app built there must produce the same
 * OpenAPI document as on Node. What differs between runtimes comes in
 * through AppDeps (store, dashboard files, the v2 import); this test gives
 * the app only the few deps building it and serving /openapi.json read, so
 * a route that reaches for anything else at build time fails here.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Miniflare } from 'miniflare';
import { bundleForWorkers, COMPATIBILITY_DATE, COMPATIBILITY_FLAGS, type Bundle } from '../../src/cf/build.ts';
import { buildApp } from '../../src/http/app.ts';
import { ROOT } from '../helpers/proc.ts';

/**
 * The nodejs_compat modules the app may import: those that behave in workerd as on Node. (node:fs exists there
 * but holds none of the project's files; node:sqlite and node:worker_threads do not exist.)
 */
const WORKERD_NODE = new Set(['node:assert', 'node:async_hooks', 'node:buffer', 'node:crypto', 'node:diagnostics_channel', 'node:events', 'node:path', 'node:process', 'node:stream', 'node:string_decoder', 'node:timers', 'node:url', 'node:util', 'node:zlib']);

/** What building the app and serving /openapi.json may read of AppDeps (the same object in both runtimes). */
const DEPS_SOURCE = `{
  dashboardAssets: new Map([['/dashboard', { body: '<!doctype html>', type: 'text/html; charset=utf-8' }]]),
  config: {}, version: '0.0.0-test', transports: {}, migration: {},
  store: { durable: async () => {} },
}`;
// The same literal, evaluated here as in the Worker.
const deps = (): Record<string, unknown> => new Function(`return ${DEPS_SOURCE}`)() as Record<string, unknown>;

let bundle: Bundle;
let mf: Miniflare;

before(async () => {
  bundle = await bundleForWorkers(join(ROOT, 'src/http/app.ts'));
  mf = new Miniflare({
    compatibilityDate: COMPATIBILITY_DATE,
    compatibilityFlags: [...COMPATIBILITY_FLAGS],
    modules: [
      {
        type: 'ESModule', path: 'entry.mjs',
        contents: `import { buildApp } from './app.mjs';
          // A dep read beyond these throws, so the test names what a route reached for (config's optional fields may be absent).
          const strict = (o) => new Proxy(o, { get(t, k) {
            if (typeof k === 'symbol' || k === 'then' || k in t) return t[k];
            throw new Error('the app read AppDeps.' + String(k) + ', which this test does not give');
          } });
          let app;
          export default { async fetch(req) {
            app ??= buildApp(strict(${DEPS_SOURCE}));
            return app.fetch(req);
          } };`,
      },
      { type: 'ESModule', path: 'app.mjs', contents: bundle.code },
    ],
  });
});

after(async () => {
  await mf?.dispose();
});

test("the HTTP app's bundle imports only node: modules workerd provides", () => {
  const foreign = bundle.nodeImports.filter((m) => !WORKERD_NODE.has(m));
  assert.deepEqual(foreign, [], `not for the Workers bundle: ${foreign.map((m) => `${m} (from ${bundle.importers.get(m)?.join(', ')})`).join('; ')}`);
});

test('built in workerd, the app serves the same OpenAPI document as on Node', async () => {
  const inWorkerd = await mf.dispatchFetch('http://localhost/openapi.json');
  assert.equal(inWorkerd.status, 200, await inWorkerd.clone().text());
  const onNode = await buildApp(deps() as never).request('/openapi.json');
  assert.equal(onNode.status, 200);
  const doc = (await inWorkerd.json()) as { paths: Record<string, unknown> };
  assert.deepEqual(doc, await onNode.json());
  assert.ok(Object.keys(doc.paths).length > 50, `${Object.keys(doc.paths).length} paths`);
});

test('in workerd, errors use the same envelope and codes', async () => {
  const r = await mf.dispatchFetch('http://localhost/no/such/route');
  assert.equal(r.status, 404);
  assert.deepEqual(await r.json(), (await (await buildApp(deps() as never).request('/no/such/route')).json()));
  const body = (await (await mf.dispatchFetch('http://localhost/no/such/route')).json()) as { error: { code: string } };
  assert.equal(body.error.code, 'NOT_FOUND');
});

test('the dashboard files come from the runtime (AppDeps), not read by the routes', async () => {
  const r = await mf.dispatchFetch('http://localhost/dashboard');
  assert.equal(r.status, 200);
  assert.equal(await r.text(), '<!doctype html>');
  assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8');
});
