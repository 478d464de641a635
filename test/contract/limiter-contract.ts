/**
 * The Limiter contract (src/limiter/limiter.ts): the tests every backend
 * must pass, as functions of a harness, so that they run in Node
 * (test/contract/limiter.test.ts: local, Redis) and inside workerd
 * (test/cf/limiter.workerd.ts: Durable Objects) alike. Nothing here may
 * import what only Node has. Most resources refill at 0 per second so that
 * levels are exact where real time passes.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isUnavailable } from '../../src/core/errors.ts';
import type { PoolDef } from '../../src/core/pools.ts';
import { SHARED_ONLY, type DrawContext, type LimitedResource, type Limiter } from '../../src/limiter/limiter.ts';
import type { LimiterHarness } from './limiter-harness.ts';

export const TTL = 60_000;

export function res(name: string, capacity: number, refillPerS = 0, defs?: PoolDef[]): LimitedResource {
  return { name, capacity, refillPerS, ...(defs ? { pools: defs } : {}) };
}

/** A requester drawing; `waiting`: the reserved pools' owners that have work waiting. */
export function as(clientId: string, tier = 'plain', waiting: readonly string[] = []): DrawContext {
  return { who: { clientId, tier }, ownerWaiting: (p) => waiting.includes(p.name) };
}

export function level(l: Limiter, resource: string): number {
  const lv = l.levels().get(resource);
  assert.ok(lv, `no level for ${resource}`);
  return lv.level;
}

export function pools(l: Limiter, resource: string): Record<string, number> {
  return Object.fromEntries(l.poolLevels(resource).map((p) => [p.pool.key, p.level]));
}

/** Pools with a reserved one for tier gold and a dedicated one for client c0. */
export const SPLIT: PoolDef[] = [
  { name: 'gold', kind: 'reserved', tier: 'gold', share: 0.3 },
  { name: 'mine', kind: 'dedicated', client: 'c0', share: 0.2 },
];


export function limiterContract(name: string, skip: false | string, create: () => Promise<LimiterHarness>): void {
  describe(`limiter: ${name}`, { skip }, () => {
    let h: LimiterHarness;
    beforeEach(async () => {
      h = await create();
    });
    afterEach(async () => {
      await h.cleanup();
    });

    describe('take', () => {
      it('takes the needs, says what came from each pool, and the views show it', async () => {
        const l = await h.open([res('r', 10), res('s', 5)]);
        assert.deepEqual(await l.take('g1', { r: 4, s: 1 }, as('c1'), TTL), { ok: true, taken: { r: 4, s: 1 } });
        assert.equal(level(l, 'r'), 6);
        assert.deepEqual(l.levels().get('s'), { level: 4, capacity: 5 });
        assert.deepEqual(l.check({ r: 6 }, as('c1')), { ok: true });
        assert.deepEqual(l.check({ r: 7 }, as('c1')), { ok: false, resource: 'r', needed: 7, waitMs: Infinity });
      });

      it('a repeated take of a live grant returns it and takes nothing more, even with other needs', async () => {
        const l = await h.open([res('r', 10)]);
        const first = await l.take('g1', { r: 4 }, as('c1'), TTL);
        assert.deepEqual(await l.take('g1', { r: 4 }, as('c1'), TTL), first);
        assert.deepEqual(await l.take('g1', { r: 9 }, as('c2'), TTL), first);
        assert.equal(level(l, 'r'), 6);
      });

      it('is all or nothing across resources', async () => {
        const l = await h.open([res('a', 10), res('b', 5)]);
        assert.deepEqual(await l.take('g1', { a: 3, b: 6 }, as('c1'), TTL), { ok: false, resource: 'b', needed: 6, waitMs: Infinity });
        assert.equal(level(l, 'a'), 10, 'a was not taken although it fit');
        assert.equal(await l.settle('g1', { a: 3 }), false, 'a refused take leaves no grant');
        assert.deepEqual(await l.take('g2', { a: 3, b: 5 }, as('c1'), TTL), { ok: true, taken: { a: 3, b: 5 } });
        assert.deepEqual(await l.take('g3', { a: 1, b: 1 }, as('c1'), TTL), { ok: false, resource: 'b', needed: 1, waitMs: Infinity });
        assert.equal(level(l, 'a'), 7);
      });

      it('skips unknown resources and amounts of 0; the grant still exists to settle', async () => {
        const l = await h.open([res('r', 10)]);
        assert.deepEqual(await l.take('g1', { nope: 5, r: 0 }, as('c1'), TTL), { ok: true, taken: {} });
        assert.equal(await l.settle('g1', { r: 3 }), true, 'usage of a resource it took nothing of is overuse');
        assert.equal(level(l, 'r'), 7);
      });

      it('a refused take says how long until it fits, and it fits then', async () => {
        const l = await h.open([res('r', 10, 20)]);
        const t0 = performance.now();
        assert.equal((await l.take('g1', { r: 10 }, as('c1'), TTL)).ok, true);
        const t = await l.take('g2', { r: 4 }, as('c1'), TTL);
        const between = h.fakeClock ? 0 : performance.now() - t0;
        assert.equal(t.ok, false);
        if (t.ok) return;
        assert.equal(t.resource, 'r');
        assert.equal(t.needed, 4);
        // 4 units at 20/s: 200 ms, less what refilled between the two takes on a real clock.
        assert.ok(t.waitMs <= 200 && t.waitMs >= 200 - between - 1, `waitMs ${t.waitMs} (${between} ms between the takes)`);
        assert.deepEqual(await l.take('g3', { r: 11 }, as('c1'), TTL), { ok: false, resource: 'r', needed: 11, waitMs: Infinity }, 'more than the capacity: never');
        await h.elapse(t.waitMs);
        assert.equal((await l.take('g2', { r: 4 }, as('c1'), TTL)).ok, true);
      });

      it('keeps every bit of a level (no rounding through storage)', async () => {
        const l = await h.open([res('r', 1e6)]);
        const amounts = [0.1, 0.2, 1e-7, 1 / 3];
        let expected = 1e6;
        for (const [i, a] of amounts.entries()) {
          assert.deepEqual(await l.take(`g${i}`, { r: a }, as('c1'), TTL), { ok: true, taken: { r: a } });
          expected -= a;
        }
        assert.equal(await l.settle('g3', { r: 0.05 }), true);
        expected = Math.min(1e6, expected + (1 / 3 - 0.05));
        await l.refresh();
        assert.equal(level(l, 'r'), expected);
      });
      it('a bucket never holds more than its capacity: not by refill, not by units given back', async () => {
        const l = await h.open([res('r', 10, 50)]);
        assert.equal((await l.take('g1', { r: 5 }, as('c1'), TTL)).ok, true);
        assert.equal((await l.take('g2', { r: 5 }, as('c1'), TTL)).ok, true);
        await h.elapse(250); // 12.5 units of refill for a capacity of 10
        assert.equal(await l.release('g1'), true);
        assert.equal(await l.settle('g2', { r: 0 }), true);
        assert.equal((await l.take('g3', { r: 10 }, as('c1'), TTL)).ok, true);
        await l.refresh();
        // 0 left (plus what refilled in the round trip since, on a real clock: 5 is 100 ms), not the 10 given back on top.
        assert.ok(level(l, 'r') < (h.fakeClock ? 1e-9 : 5), `level ${level(l, 'r')} after taking a full bucket`);
      });
    });

    describe('pools', () => {
      it("draws its own pools first (dedicated, then reserved), then shared", async () => {
        const l = await h.open([res('r', 100, 0, SPLIT)]);
        assert.deepEqual(await l.take('g1', { r: 55 }, as('c0', 'gold'), TTL), { ok: true, taken: { 'r#mine': 20, 'r#gold': 30, r: 5 } });
        assert.deepEqual(pools(l, 'r'), { r: 45, 'r#gold': 0, 'r#mine': 0 });
      });

      it("lends a reserved pool while its owner has nothing waiting, not while it does", async () => {
        const l = await h.open([res('r', 100, 0, SPLIT)]);
        assert.deepEqual(await l.take('g1', { r: 60 }, as('c1', 'plain', ['gold']), TTL), { ok: false, resource: 'r', needed: 60, waitMs: Infinity });
        assert.deepEqual(pools(l, 'r'), { r: 50, 'r#gold': 30, 'r#mine': 20 });
        assert.deepEqual(await l.take('g2', { r: 60 }, as('c1'), TTL), { ok: true, taken: { r: 50, 'r#gold': 10 } });
      });

      it('never lends a dedicated pool', async () => {
        const l = await h.open([res('r', 100, 0, SPLIT)]);
        assert.deepEqual(await l.take('g1', { r: 81 }, as('c1'), TTL), { ok: false, resource: 'r', needed: 81, waitMs: Infinity });
        assert.deepEqual(await l.take('g2', { r: 80 }, as('c1', 'gold'), TTL), { ok: true, taken: { 'r#gold': 30, r: 50 } });
        assert.deepEqual(pools(l, 'r'), { r: 0, 'r#gold': 0, 'r#mine': 20 });
      });

      it("a worker's own grant (SHARED_ONLY) draws from shared pools only", async () => {
        const l = await h.open([res('r', 100, 0, SPLIT)]);
        assert.equal((await l.take('rsv_1', { r: 51 }, SHARED_ONLY, TTL)).ok, false);
        assert.deepEqual(await l.take('rsv_2', { r: 50 }, SHARED_ONLY, TTL), { ok: true, taken: { r: 50 } });
        assert.equal(await l.settle('rsv_2', { r: 20 }), true);
        assert.deepEqual(pools(l, 'r'), { r: 30, 'r#gold': 30, 'r#mine': 20 });
      });
    });

    describe('settle, release, expire', () => {
      it('settle returns unused units to the pools they came from, borrowed first, and forgets the grant', async () => {
        const l = await h.open([res('r', 10, 0, [{ name: 'gold', kind: 'reserved', tier: 'gold', share: 0.5 }])]);
        assert.deepEqual(await l.take('g1', { r: 7 }, as('c1'), TTL), { ok: true, taken: { r: 5, 'r#gold': 2 } });
        assert.equal(await l.settle('g1', { r: 4 }), true);
        assert.deepEqual(pools(l, 'r'), { r: 1, 'r#gold': 5 }, 'the 2 borrowed went back to gold first');
        assert.equal(await l.settle('g1', { r: 0 }), false, 'a second settle is a no-op');
        assert.equal(await l.release('g1'), false);
        assert.deepEqual(pools(l, 'r'), { r: 1, 'r#gold': 5 });
      });

      it('a resource the grant took but the settlement leaves out counts as used 0', async () => {
        const l = await h.open([res('a', 10), res('b', 10)]);
        await l.take('g1', { a: 4, b: 4 }, as('c1'), TTL);
        assert.equal(await l.settle('g1', { a: 4 }), true);
        assert.equal(level(l, 'a'), 6);
        assert.equal(level(l, 'b'), 10);
      });

      it('overuse is debited, down to -capacity, and repaid before anything is admitted', async () => {
        const l = await h.open([res('r', 10)]);
        await l.take('g1', { r: 2 }, as('c1'), TTL);
        assert.equal(await l.settle('g1', { r: 5 }), true);
        assert.equal(level(l, 'r'), 5);
        await l.take('g2', { r: 1 }, as('c1'), TTL);
        assert.equal(await l.settle('g2', { r: 100 }), true);
        assert.equal(level(l, 'r'), -10, 'bounded at -capacity');
        assert.deepEqual(await l.take('g3', { r: 1 }, as('c1'), TTL), { ok: false, resource: 'r', needed: 1, waitMs: Infinity }, 'the debt is repaid first');
      });

      it('overuse is debited from the first pool the grant drew from', async () => {
        const l = await h.open([res('r', 10, 0, [{ name: 'gold', kind: 'reserved', tier: 'gold', share: 0.5 }])]);
        assert.deepEqual(await l.take('g1', { r: 7 }, as('c1'), TTL), { ok: true, taken: { r: 5, 'r#gold': 2 } });
        assert.equal(await l.settle('g1', { r: 9 }), true);
        assert.deepEqual(pools(l, 'r'), { r: -2, 'r#gold': 3 });
      });

      it('release gives everything back and forgets the grant; repeating it, or settling after, is a no-op', async () => {
        const l = await h.open([res('a', 10), res('b', 5)]);
        await l.take('g1', { a: 6, b: 5 }, as('c1'), TTL);
        assert.equal(await l.release('g1'), true);
        assert.equal(level(l, 'a'), 10);
        assert.equal(level(l, 'b'), 5);
        assert.equal(await l.release('g1'), false);
        assert.equal(await l.settle('g1', { a: 6 }), false);
        assert.equal(await l.release('never-taken'), false);
        assert.equal(level(l, 'a'), 10);
      });

      it('expire forgets grants past their ttl without giving anything back', async () => {
        const l = await h.open([res('r', 10)]);
        await l.take('short', { r: 2 }, as('c1'), 500);
        await l.take('long', { r: 3 }, as('c1'), TTL);
        assert.equal(await l.expire(), 0, 'nothing expired yet');
        await h.elapse(600);
        assert.equal(await l.expire(), 1);
        assert.equal(level(l, 'r'), 5, 'the expired grant kept its units');
        assert.equal(await l.settle('short', { r: 0 }), false, 'forgotten');
        assert.equal(await l.expire(), 0);
        assert.equal(await l.release('long'), true);
        assert.equal(level(l, 'r'), 8);
      });
    });

    describe('reset and configure', () => {
      it("reset sets a resource's level, each pool its share; full by default; resolves the level before", async () => {
        const l = await h.open([res('r', 10, 0, [{ name: 'gold', kind: 'reserved', tier: 'gold', share: 0.5 }])]);
        await l.take('g1', { r: 8 }, as('c1'), TTL);
        assert.equal(await l.reset('r', 4), 2);
        assert.deepEqual(pools(l, 'r'), { r: 2, 'r#gold': 2 });
        assert.equal(await l.reset('r'), 4);
        assert.deepEqual(pools(l, 'r'), { r: 5, 'r#gold': 5 });
        assert.equal(await l.reset('r', -100), 10);
        assert.deepEqual(pools(l, 'r'), { r: -5, 'r#gold': -5 }, 'within -capacity');
        assert.equal(await l.reset('nope', 1), null);
      });

      it('configure keeps the level of pools that keep their key, starts new pools full, cuts a lowered capacity', async () => {
        const l = await h.open([res('r', 10), res('s', 10)]);
        await l.take('g1', { r: 4, s: 9 }, as('c1'), TTL);
        await l.configure([res('r', 10, 0, [{ name: 'gold', kind: 'reserved', tier: 'gold', share: 0.5 }]), res('s', 5)]);
        assert.deepEqual(pools(l, 'r'), { r: 5, 'r#gold': 5 }, 'shared r keeps 6, cut to its capacity 5; gold is new: full');
        assert.deepEqual(l.levels().get('s'), { level: 1, capacity: 5 });
        assert.equal(l.hasPools('r'), true);
        assert.equal(l.hasPools('s'), false);
        assert.deepEqual(await l.take('g2', { r: 6 }, as('c1'), TTL), { ok: true, taken: { r: 5, 'r#gold': 1 } });
      });

      it('a resource configured away is dropped; configured again, its pools keep their level', async () => {
        const l = await h.open([res('r', 10), res('s', 10)]);
        await l.take('g1', { r: 4 }, as('c1'), TTL);
        await l.configure([res('s', 10)]);
        assert.deepEqual([...l.levels().keys()], ['s']);
        assert.deepEqual(l.poolLevels('r'), []);
        assert.deepEqual(await l.take('g2', { r: 1 }, as('c1'), TTL), { ok: true, taken: {} }, 'an unknown resource is skipped');
        await l.configure([res('r', 10), res('s', 10)]);
        assert.equal(level(l, 'r'), 6);
        assert.equal(await l.settle('g1', { r: 4 }), true);
        assert.equal(level(l, 'r'), 6);
      });
    });

    describe('lifecycle and input', () => {
      it('a restarted process starts from the levels left; grants outlive it only where they are shared', async () => {
        const l = await h.open([res('r', 10)]);
        await l.take('g1', { r: 4 }, as('c1'), TTL);
        await l.close();
        const again = await h.open([res('r', 10)]);
        assert.equal(level(again, 'r'), 6);
        if (again.capabilities.shared) {
          assert.deepEqual(await again.take('g1', { r: 4 }, as('c1'), TTL), { ok: true, taken: { r: 4 } });
          assert.equal(await again.release('g1'), true);
          assert.equal(level(again, 'r'), 10);
        } else {
          assert.equal(await again.release('g1'), false, 'grants lived in the old process: its units come back by refill only');
          assert.equal(level(again, 'r'), 6);
        }
      });

      it('refuses bad input with VALIDATION_ERROR and takes nothing', async () => {
        const l = await h.open([res('r', 10)]);
        const bad = { code: 'VALIDATION_ERROR' };
        await assert.rejects(l.take('', { r: 1 }, as('c1'), TTL), bad);
        await assert.rejects(l.take('x'.repeat(300), { r: 1 }, as('c1'), TTL), bad);
        await assert.rejects(l.take('g1', { r: Number.NaN }, as('c1'), TTL), bad);
        await assert.rejects(l.take('g1', { r: -1 }, as('c1'), TTL), bad);
        await assert.rejects(l.take('g1', { r: Infinity }, as('c1'), TTL), bad);
        await assert.rejects(l.take('g1', { r: 1 }, as('c1'), 0), bad);
        await assert.rejects(l.take('g1', { r: 1 }, as('c1'), Number.NaN), bad);
        await l.take('g2', { r: 1 }, as('c1'), TTL);
        await assert.rejects(l.settle('g2', { r: Number.NaN }), bad);
        await assert.rejects(l.reset('r', Number.NaN), bad);
        assert.equal(level(l, 'r'), 9);
        assert.equal(await l.settle('g2', { r: 1 }), true, 'the grant survived the bad settlement');
      });

      it('operations after close reject; close is idempotent', async () => {
        const l = await h.open([res('r', 10)]);
        await l.close();
        await l.close();
        await assert.rejects(l.take('g1', { r: 1 }, as('c1'), TTL), isUnavailable);
        await assert.rejects(l.expire(), isUnavailable);
      });
    });
  });
}

/** What a shared limiter whose every bucket is its own object must also get right (the Durable Object limiter). */
export function sharedBucketsContract(name: string, create: () => Promise<LimiterHarness>): void {
describe(`limiter: ${name} only`, () => {
  let h: LimiterHarness;
  beforeEach(async () => {
    h = await create();
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it('200 concurrent takes from four instances on a bucket of 100 admit exactly 100', async () => {
    const r = [res('r', 100)];
    const limiters = await Promise.all([0, 1, 2, 3].map(() => h.open(r)));
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => (limiters[i % 4] as Limiter).take(`g${i}`, { r: 1 }, as(`c${i % 7}`), TTL)));
    assert.equal(results.filter((t) => t.ok).length, 100);
    for (const t of results) if (!t.ok) assert.deepEqual([t.resource, t.needed, t.waitMs], ['r', 1, Infinity]);
    const [a] = limiters as [Limiter];
    await a.refresh();
    assert.equal(level(a, 'r'), 0);
  });

  it('a resource split into pools, hammered with takes of 3 by several requesters: never over-admitted, no unit lost', async () => {
    // 100 units in a shared pool (50), a tier's reserved pool (30) and a client's dedicated one (20); takes of 3
    // draw across pools and give back what they took when short, so the totals must still add up exactly.
    const r = [res('r', 100, 0, [{ name: 'gold', kind: 'reserved', tier: 'gold', share: 0.3 }, { name: 'mine', kind: 'dedicated', client: 'c0', share: 0.2 }])];
    const limiters = await Promise.all([0, 1, 2].map(() => h.open(r)));
    const who = [as('c0'), as('c1', 'gold'), as('c2'), as('c3', 'gold')];
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => (limiters[i % 3] as Limiter).take(`g${i}`, { r: 3 }, who[i % 4] as DrawContext, TTL)));
    const admitted = results.reduce((n, t) => n + (t.ok ? Object.values(t.taken).reduce((a, b) => a + b, 0) : 0), 0);
    for (const t of results) if (t.ok) assert.equal(Object.values(t.taken).reduce((a, b) => a + b, 0), 3, 'a grant got all it asked for');
    const [a] = limiters as [Limiter];
    await a.refresh();
    assert.ok(admitted <= 100, `admitted ${admitted}`);
    assert.equal(admitted + level(a, 'r'), 100, `admitted ${admitted}, left ${level(a, 'r')}: every unit is either granted or still there`);
    assert.ok(admitted >= 60, `admitted only ${admitted} of 100 (a grant is refused only while others briefly hold units)`);
  });

  it('RATE: three instances hammering take for 2 s are admitted at most capacity + refill × elapsed', async () => {
    const CAP = 20;
    const REFILL = 10;
    const r = [res('r', CAP, REFILL)];
    const limiters = await Promise.all([0, 1, 2].map(() => h.open(r)));
    const used = [1, 1, 0.5, 0];
    let net = 0;
    let takes = 0;
    let refusals = 0;
    // Every take and settle happens between these two readings of the clock (the objects share it: one machine).
    const start = Date.now();
    const until = start + 2000;
    await Promise.all(limiters.flatMap((l, c) => [0, 1].map(async (k) => {
      for (let i = 0; Date.now() < until; i++) {
        const id = `c${c}-${k}-${i}`;
        const t = await l.take(id, { r: 1 }, as(`client${c}`), TTL);
        if (!t.ok) {
          refusals++;
          await new Promise((done) => setTimeout(done, 5));
          continue;
        }
        takes++;
        const u = used[i % used.length] as number;
        assert.equal(await l.settle(id, { r: u }), true);
        net += u;
      }
    })));
    const elapsedS = (Date.now() - start) / 1000;
    const bound = CAP + REFILL * elapsedS;
    assert.ok(net <= bound + 1e-6, `admitted ${net} > ${bound} (capacity ${CAP} + ${REFILL}/s × ${elapsedS} s)`);
    assert.ok(net >= bound - 5, `admitted only ${net} of ${bound}`);
    assert.ok(refusals > takes, `the bucket was saturated (${takes} takes, ${refusals} refusals)`);
  });
});
}

/** What a limiter shared by several instances (Redis, Durable Objects) must get right: grants live in it, not in an instance. */
export function sharedLimiterContract(name: string, skip: false | string, create: () => Promise<LimiterHarness>): void {
  describe(`limiter: ${name}, shared by instances`, { skip }, () => {
    let h: LimiterHarness;
    beforeEach(async () => {
      h = await create();
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it('concurrent takes of one grant id from several instances take once', async () => {
      const r = [res('r', 1000)];
      const limiters = await Promise.all([0, 1, 2].map(() => h.open(r)));
      const ids = Array.from({ length: 30 }, (_, i) => `g${i}`);
      const results = await Promise.all(limiters.flatMap((l) => ids.map((id) => l.take(id, { r: 3 }, as('c1'), TTL))));
      for (const t of results) assert.deepEqual(t, { ok: true, taken: { r: 3 } });
      const [a] = limiters as [Limiter];
      await a.refresh();
      assert.equal(level(a, 'r'), 1000 - 30 * 3);
    });

    it('grants are shared: another instance settles what one took, and a restarted one releases it', async () => {
      const r = [res('a', 10), res('b', 10)];
      const a = await h.open(r);
      const b = await h.open(r);
      await a.take('g1', { a: 4, b: 2 }, as('c1'), TTL);
      assert.deepEqual(await b.take('g1', { a: 9 }, as('c1'), TTL), { ok: true, taken: { a: 4, b: 2 } });
      assert.equal(await b.settle('g1', { a: 1 }), true);
      assert.equal(await a.settle('g1', { a: 1 }), false);
      await a.refresh();
      assert.deepEqual([level(a, 'a'), level(a, 'b')], [9, 10]);
      await a.take('g2', { a: 5 }, as('c1'), TTL);
      await a.close();
      const again = await h.open(r);
      assert.equal(await again.release('g2'), true);
      assert.equal(level(again, 'a'), 9);
    });
  });
}
