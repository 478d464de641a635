/**
 * The ledger over pools: whatever the pools, requesters and order of
 * operations, the pools of a resource together never admit more than the
 * resource's capacity plus its refill over the elapsed time (net of what
 * was given back), and dedicated pools are only drawn by their owner.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { PoolDef } from '../../src/core/pools.ts';
import { ResourceLedger } from '../../src/limiter/ledger.ts';
import type { Resource } from '../../src/model.ts';

const CAPACITY = 1000;
const REFILL = 100;

function resource(pools: PoolDef[]): Resource {
  return { name: 'r', kind: 'count', model: undefined, unit: 'unit', capacity: CAPACITY, refillPerS: REFILL, price: { costPerUnitUsd: 0 }, pools };
}

const poolDefs = fc
  .tuple(fc.double({ min: 0.05, max: 0.45, noNaN: true }), fc.double({ min: 0.05, max: 0.45, noNaN: true }), fc.boolean())
  .map(([a, b, withDedicated]): PoolDef[] => [
    { name: 'gold', kind: 'reserved', tier: 'gold', share: a },
    ...(withDedicated ? [{ name: 'mine', kind: 'dedicated' as const, client: 'c0', share: b }] : []),
  ]);

const op = fc.oneof(
  fc.record({ kind: fc.constant('take' as const), client: fc.integer({ min: 0, max: 3 }), amount: fc.integer({ min: 1, max: 600 }), dt: fc.integer({ min: -500, max: 800 }) }),
  fc.record({ kind: fc.constant('settle' as const), used: fc.double({ min: 0, max: 1, noNaN: true }), dt: fc.integer({ min: 0, max: 800 }) }),
  fc.record({ kind: fc.constant('cancel' as const), dt: fc.integer({ min: 0, max: 3000 }) }),
);

describe('ResourceLedger with pools', () => {
  test('PROPERTY: net admitted ≤ capacity + refill × elapsed over every interval; dedicated only for its owner', () => {
    fc.assert(
      fc.property(poolDefs, fc.array(op, { minLength: 20, maxLength: 150 }), fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), (defs, ops, waiting) => {
        const start = 1_000_000;
        let now = start;
        let high = start; // the clock never credits time twice: measure intervals on the furthest time seen
        const ledger = new ResourceLedger(new Map([['r', resource(defs)]]), new Map(), now);
        const open: { taken: Record<string, number>; amount: number }[] = [];
        const events: { at: number; net: number }[] = [];
        for (const o of ops) {
          now += o.dt;
          // Time as the ledger saw it: the latest `now` of a call that reached it.
          if (o.kind === 'take' || open.length > 0) high = Math.max(high, now);
          if (o.kind === 'take') {
            const who = { clientId: `c${o.client}`, tier: o.client % 2 === 0 ? 'gold' : 'plain' };
            const ctx = { who, ownerWaiting: (p: { tier?: string | undefined }) => p.tier === 'gold' && (waiting[0] ?? false) };
            const c = ledger.check({ r: o.amount }, now, ctx);
            if (!c.ok) continue;
            const { taken } = ledger.reserve({ r: o.amount }, now, ctx);
            if (taken['r#mine']) assert.equal(who.clientId, 'c0', 'only the owner draws from its dedicated pool');
            if (taken['r#gold'] && who.tier !== 'gold') assert.equal(waiting[0], false, 'a reserved pool is lent only while its owner has nothing waiting');
            open.push({ taken, amount: o.amount });
            events.push({ at: high, net: o.amount });
          } else {
            const r = open.shift();
            if (!r) continue;
            const used = o.kind === 'cancel' ? 0 : Math.round(r.amount * o.used);
            if (o.kind === 'cancel') ledger.giveBack(r.taken, now);
            else ledger.settle(r.taken, { r: used }, now);
            // Workers that honour what they reserved (overuse is a debt the bucket repays, not an admission).
            events.push({ at: high, net: used - r.amount });
          }
        }
        for (let i = 0; i < events.length; i++) {
          let net = 0;
          for (let j = i; j < events.length; j++) {
            net += (events[j] as { net: number }).net;
            const elapsed = ((events[j] as { at: number }).at - (events[i] as { at: number }).at) / 1000;
            assert.ok(net <= CAPACITY + REFILL * elapsed + 1e-6, `net ${net} over ${elapsed} s`);
          }
        }
        const lv = ledger.levels(now).get('r');
        assert.ok(lv && lv.level <= CAPACITY + 1e-6 && Math.abs(lv.capacity - CAPACITY) < 1e-6);
      }),
      { numRuns: 300 },
    );
  });
});
