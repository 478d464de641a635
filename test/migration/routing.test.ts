/**
 * Routing by a stable hash of the request id: the same id always goes the
 * same way, the share follows the percentage, raising the percentage only
 * moves requests to Allot, and the rollback switch overrides every mode.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bucketOf, BUCKETS, routeFor, shadowSampled, type RoutingState } from '../../src/migrate/routing.ts';

const rollout = (p: number): RoutingState => ({ mode: 'rollout', rolloutPercent: p, rollback: false });
const N = 100_000;

/** mulberry32: seeded, so the ids (and so the test) are the same on every run. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = prng(20261123);
const hex = (n: number): string => Array.from({ length: n }, () => Math.floor(rand() * 16).toString(16)).join('');
/** UUIDv7-shaped ids as Allot makes them: 48 bits of milliseconds, then random bits. */
const uuids = Array.from({ length: N }, (_, i) => {
  const ts = (1_790_000_000_000 + i * 3).toString(16).padStart(12, '0');
  return `${ts.slice(0, 8)}-${ts.slice(8)}-7${hex(3)}-${(8 + Math.floor(rand() * 4)).toString(16)}${hex(3)}-${hex(12)}`;
});
const sequential = Array.from({ length: N }, (_, i) => `req-${i}`);

describe('routing by request id', () => {
  it('routes the same id the same way every time', () => {
    for (const id of uuids.slice(0, 1000)) {
      const first = routeFor(id, rollout(37));
      for (let k = 0; k < 3; k++) assert.equal(routeFor(id, rollout(37)), first);
      assert.equal(bucketOf(id), bucketOf(`${id}`));
    }
  });

  // 100,000 ids: the share's standard deviation is at most 0.16 points, so ±0.6 points is 3.8 sigma.
  for (const [name, ids] of [['UUIDv7 ids', uuids], ['sequential ids', sequential]] as const) {
    it(`sends close to the percentage to Allot (${name}, ±0.6 points over 100,000)`, () => {
      for (const p of [1, 10, 30, 50, 75, 99]) {
        const share = (100 * ids.filter((id) => routeFor(id, rollout(p)) === 'allot').length) / ids.length;
        assert.ok(Math.abs(share - p) <= 0.6, `${p}%: got ${share.toFixed(2)}%`);
      }
    });
  }

  it('spreads ids evenly over the buckets (chi-square over 100 groups)', () => {
    const groups = Array.from({ length: 100 }, () => 0);
    for (const id of uuids) {
      const k = Math.floor(bucketOf(id) / (BUCKETS / 100));
      groups[k] = (groups[k] ?? 0) + 1;
    }
    const expected = N / 100;
    const chi2 = groups.reduce((a, g) => a + (g - expected) ** 2 / expected, 0);
    // 99 degrees of freedom: the 99.9th percentile is 148.2.
    assert.ok(chi2 < 148.2, `chi-square ${chi2.toFixed(1)}`);
  });

  it('only moves requests from v2 to Allot as the percentage rises', () => {
    const ids = uuids.slice(0, 20_000);
    let before = ids.map((id) => routeFor(id, rollout(0)));
    assert.ok(before.every((s) => s === 'v2'));
    for (const p of [0.5, 5, 20, 30, 60, 99.99, 100]) {
      const now = ids.map((id) => routeFor(id, rollout(p)));
      now.forEach((s, i) => assert.ok(!(before[i] === 'allot' && s === 'v2'), `${ids[i]} went back to v2 at ${p}%`));
      before = now;
    }
    assert.ok(before.every((s) => s === 'allot'));
  });

  it('follows the mode: all Allot, all v2', () => {
    for (const id of uuids.slice(0, 1000)) {
      assert.equal(routeFor(id, { mode: 'allot', rolloutPercent: 0, rollback: false }), 'allot');
      assert.equal(routeFor(id, { mode: 'v2', rolloutPercent: 100, rollback: false }), 'v2');
    }
  });

  it('sends everything to v2 under the rollback switch, whatever the mode', () => {
    for (const mode of ['allot', 'v2', 'rollout'] as const) {
      for (const id of uuids.slice(0, 1000)) assert.equal(routeFor(id, { mode, rolloutPercent: 100, rollback: true }), 'v2', mode);
    }
  });

  it('samples shadow copies at the shadow percentage, stably and independently of the rollout', () => {
    for (const p of [1, 10, 25, 50]) {
      const sampled = uuids.filter((id) => shadowSampled(id, p));
      const share = (100 * sampled.length) / uuids.length;
      assert.ok(Math.abs(share - p) <= 0.6, `${p}%: got ${share.toFixed(2)}%`);
      // Among requests routed to Allot at 30%, the same share is sampled: the two hashes are independent.
      const inAllot = uuids.filter((id) => routeFor(id, rollout(30)) === 'allot');
      const both = (100 * inAllot.filter((id) => shadowSampled(id, p)).length) / inAllot.length;
      assert.ok(Math.abs(both - p) <= 1.2, `${p}% of the Allot share: got ${both.toFixed(2)}%`);
    }
    for (const id of uuids.slice(0, 1000)) {
      assert.equal(shadowSampled(id, 100), true);
      assert.equal(shadowSampled(id, 0), false);
      if (shadowSampled(id, 20)) assert.equal(shadowSampled(id, 40), true, 'raising the percentage keeps what was sampled');
    }
  });
});
