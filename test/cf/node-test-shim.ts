/**
 * node:test's describe/it and hooks, for suites bundled into a Worker
 * (test/cf/workerd-suite.ts aliases `node:test` to this file): the suite
 * registers its tests here when its module loads, inside workerd, and the
 * Worker runs them one at a time when the Node side asks, reporting each
 * result back, where node:test prints it as one of its own. Only what the
 * contract suites use: describe/it/test with `skip` and `todo`, and
 * before/after/beforeEach/afterEach.
 */

type Fn = (ctx: TestContext) => unknown;
type Hook = () => unknown;

export interface TestOptions {
  readonly skip?: boolean | string;
  readonly todo?: boolean | string;
}

export interface TestContext {
  readonly name: string;
  diagnostic(message: string): void;
}

interface Suite {
  readonly name: string;
  readonly parent: Suite | null;
  readonly skip: boolean | string;
  readonly before: Hook[];
  readonly after: Hook[];
  readonly beforeEach: Hook[];
  readonly afterEach: Hook[];
  /** Whether its `before` hooks ran. */
  began: boolean;
}

export interface RegisteredTest {
  readonly id: number;
  /** Suite names from the outermost, then the test's own. */
  readonly path: readonly string[];
  readonly skip: boolean | string;
  readonly todo: boolean | string;
}

interface Entry extends RegisteredTest {
  readonly fn: Fn;
  readonly suite: Suite;
}

const root: Suite = { name: '', parent: null, skip: false, before: [], after: [], beforeEach: [], afterEach: [], began: false };
let current = root;
const tests: Entry[] = [];

function args(a: unknown, b: unknown): { opts: TestOptions; fn: Fn | undefined } {
  if (typeof a === 'function') return { opts: {}, fn: a as Fn };
  return { opts: (a ?? {}) as TestOptions, fn: b as Fn | undefined };
}

function pathOf(s: Suite): string[] {
  const out: string[] = [];
  for (let x: Suite | null = s; x && x !== root; x = x.parent) out.unshift(x.name);
  return out;
}

export function describe(name: string, a?: TestOptions | (() => void), b?: () => void): void {
  const { opts, fn } = args(a, b);
  const suite: Suite = { name, parent: current, skip: opts.skip ?? current.skip, before: [], after: [], beforeEach: [], afterEach: [], began: false };
  const outer = current;
  current = suite;
  try {
    (fn as (() => void) | undefined)?.();
  } finally {
    current = outer;
  }
}

export function it(name: string, a?: TestOptions | Fn, b?: Fn): void {
  const { opts, fn } = args(a, b);
  tests.push({ id: tests.length, path: [...pathOf(current), name], skip: opts.skip ?? current.skip, todo: opts.todo ?? false, fn: fn ?? (() => {}), suite: current });
}
export const test = it;

export function before(fn: Hook): void {
  current.before.push(fn);
}
export function after(fn: Hook): void {
  current.after.push(fn);
}
export function beforeEach(fn: Hook): void {
  current.beforeEach.push(fn);
}
export function afterEach(fn: Hook): void {
  current.afterEach.push(fn);
}

/** Every registered test, in order. */
export function listTests(): RegisteredTest[] {
  return tests.map(({ id, path, skip, todo }) => ({ id, path, skip, todo }));
}

function chain(s: Suite): Suite[] {
  const out: Suite[] = [];
  for (let x: Suite | null = s; x; x = x.parent) out.unshift(x);
  return out;
}

export interface TestResult {
  readonly ok: boolean;
  readonly error?: string;
  readonly diagnostics: readonly string[];
  readonly ms: number;
}

/** Runs test `id` with its suites' hooks (a suite's `before` once, before its first test). */
export async function runTest(id: number): Promise<TestResult> {
  const t = tests[id];
  if (!t) return { ok: false, error: `no test ${id}`, diagnostics: [], ms: 0 };
  const diagnostics: string[] = [];
  const t0 = performance.now();
  const suites = chain(t.suite);
  let ok = true;
  let error: string | undefined;
  const fail = (err: unknown): void => {
    if (!ok) return;
    ok = false;
    error = err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err);
  };
  try {
    for (const s of suites) {
      if (!s.began) {
        s.began = true;
        for (const h of s.before) await h();
      }
    }
    for (const s of suites) for (const h of s.beforeEach) await h();
    await t.fn({ name: t.path.at(-1) ?? '', diagnostic: (m) => diagnostics.push(m) });
  } catch (err) {
    fail(err);
  }
  for (const s of suites.toReversed()) {
    for (const h of s.afterEach) {
      try {
        await h();
      } catch (err) {
        fail(err);
      }
    }
  }
  return { ok, ...(error === undefined ? {} : { error }), diagnostics, ms: performance.now() - t0 };
}

/** Runs every suite's `after` hooks (those whose `before` ran, or that have tests). */
export async function finish(): Promise<void> {
  const seen = new Set<Suite>();
  for (const t of tests) for (const s of chain(t.suite)) seen.add(s);
  for (const s of [...seen].toReversed()) for (const h of s.after) await h();
}
