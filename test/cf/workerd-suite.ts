/**
 * Runs a test suite inside workerd (Cloudflare's runtime, locally through
 * miniflare): the suite's module is bundled into a Worker with `node:test`
 * replaced by test/cf/node-test-shim.ts, so its tests register and run in
 * workerd, against the Worker's real bindings (D1, Durable Objects). Node
 * asks for the list, then runs each test by a request and reports it as a
 * node:test test of its own, with the same names, skips and todos.
 */
import { after, before, describe, it } from 'node:test';
import { join } from 'node:path';
import { Miniflare, type MiniflareOptions } from 'miniflare';
import { bundleForWorkers, COMPATIBILITY_DATE, COMPATIBILITY_FLAGS } from '../../src/cf/build.ts';
import { ROOT } from '../helpers/proc.ts';
import type { RegisteredTest, TestResult } from './node-test-shim.ts';

export interface WorkerdSuiteOptions {
  /** The suite module (a path from the repository's root); it registers its tests when loaded. */
  readonly suite: string;
  /** Export lines for the Worker's entry (its Durable Object classes). */
  readonly exports?: string;
  /** Bindings and the like (d1Databases, durableObjects). */
  readonly miniflare?: Partial<MiniflareOptions>;
}

const SHIM = join(ROOT, 'test/cf/node-test-shim.ts');
const ENV = join(ROOT, 'test/cf/workerd-env.ts');

/** Starts the Worker and lists its tests. */
export async function startWorkerdSuite(o: WorkerdSuiteOptions): Promise<{ tests: RegisteredTest[]; run(id: number): Promise<TestResult>; close(): Promise<void> }> {
  const contents = `
    import { listTests, runTest, finish } from ${JSON.stringify(SHIM)};
    import { setEnv } from ${JSON.stringify(ENV)};
    import ${JSON.stringify(join(ROOT, o.suite))};
    ${o.exports ?? ''}
    export default {
      async fetch(request, env) {
        setEnv(env);
        const url = new URL(request.url);
        if (url.pathname === '/tests') return Response.json(listTests());
        if (url.pathname === '/run') return Response.json(await runTest(Number(url.searchParams.get('id'))));
        if (url.pathname === '/finish') { await finish(); return Response.json({ ok: true }); }
        return new Response('not found', { status: 404 });
      },
    };`;
  const bundle = await bundleForWorkers({ contents, resolveDir: ROOT }, { alias: { 'node:test': SHIM } });
  const mf = new Miniflare({
    ...(o.miniflare as object),
    compatibilityDate: COMPATIBILITY_DATE,
    compatibilityFlags: [...COMPATIBILITY_FLAGS],
    modules: [{ type: 'ESModule', path: 'entry.mjs', contents: bundle.code }],
  } as MiniflareOptions);
  const call = async <T>(path: string): Promise<T> => {
    const r = await mf.dispatchFetch(`http://tests.local${path}`);
    if (!r.ok) throw new Error(`the test Worker answered ${path} with ${r.status}: ${await r.text()}`);
    return (await r.json()) as T;
  };
  const tests = await call<RegisteredTest[]>('/tests');
  return {
    tests,
    run: (id) => call<TestResult>(`/run?id=${id}`),
    async close() {
      try {
        await call('/finish');
      } finally {
        await mf.dispose();
      }
    },
  };
}

interface Node {
  readonly suites: Map<string, Node>;
  readonly tests: RegisteredTest[];
  /** In order of first appearance: ['s', name] or ['t', test]. */
  readonly order: (['s', string] | ['t', RegisteredTest])[];
}

/**
 * Registers the suite's tests with node:test, nested as they were declared.
 * Call it at the top level of a .test.ts file; the Worker starts before the
 * first test and stops after the last.
 */
export async function mirrorWorkerdSuite(title: string, o: WorkerdSuiteOptions): Promise<void> {
  const started = await startWorkerdSuite(o);
  const tree: Node = { suites: new Map(), tests: [], order: [] };
  for (const t of started.tests) {
    let n = tree;
    for (const name of t.path.slice(0, -1)) {
      let child = n.suites.get(name);
      if (!child) {
        child = { suites: new Map(), tests: [], order: [] };
        n.suites.set(name, child);
        n.order.push(['s', name]);
      }
      n = child;
    }
    n.order.push(['t', t]);
  }
  const declare = (n: Node): void => {
    for (const entry of n.order) {
      if (entry[0] === 's') {
        describe(entry[1], () => declare(n.suites.get(entry[1]) as Node));
        continue;
      }
      const t = entry[1];
      it(t.path.at(-1) as string, { skip: t.skip, todo: t.todo }, async (ctx) => {
        const r = await started.run(t.id);
        for (const d of r.diagnostics) ctx.diagnostic(d);
        if (!r.ok) throw new Error(`in workerd: ${r.error}`);
      });
    }
  };
  describe(title, () => {
    after(() => started.close());
    before(() => {});
    declare(tree);
  });
}
