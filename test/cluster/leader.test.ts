/**
 * Leader election on a real PostgreSQL (src/cluster/leader.ts): one leader at
 * a time, sampled continuously while leaders come and go; takeover within
 * the lease when the leader can no longer reach the database; at once after
 * a clean stop.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { LeaderElection } from '../../src/cluster/leader.ts';
import { PG_SKIP, testSchema, type TestSchema } from './pg-schema.ts';

const LEASE = 600;
const INTERVAL = 150;

describe('leader election (PostgreSQL)', { skip: PG_SKIP }, () => {
  let schema: TestSchema;
  before(async () => {
    schema = await testSchema();
  });
  after(async () => {
    await schema?.drop();
  });

  /** Electors over their own pools; samples how many think they lead every 10 ms. */
  function cluster(n: number): { electors: LeaderElection[]; pools: pg.Pool[]; maxLeaders: () => number; stop: () => Promise<void> } {
    const pools = Array.from({ length: n }, () => schema.pool(2));
    const electors = pools.map((p, i) => new LeaderElection(p, { id: `inst-${i}-${Math.random()}`, leaseMs: LEASE, intervalMs: INTERVAL }));
    for (const e of electors) e.on('error', () => {});
    let max = 0;
    const sampler = setInterval(() => {
      max = Math.max(max, electors.filter((e) => e.isLeader).length);
    }, 10);
    for (const e of electors) e.start();
    return {
      electors, pools, maxLeaders: () => max,
      async stop() {
        clearInterval(sampler);
        for (const e of electors) await e.stop();
      },
    };
  }

  async function waitForLeader(electors: LeaderElection[], timeoutMs: number): Promise<{ leader: LeaderElection; afterMs: number }> {
    const t0 = performance.now();
    while (performance.now() - t0 < timeoutMs) {
      const l = electors.find((e) => e.isLeader);
      if (l) return { leader: l, afterMs: performance.now() - t0 };
      await sleep(5);
    }
    throw new Error(`no leader within ${timeoutMs} ms`);
  }

  it('elects exactly one of three, which keeps its term while it renews', async () => {
    const c = cluster(3);
    try {
      const { leader } = await waitForLeader(c.electors, 2_000);
      const term = leader.term;
      await sleep(LEASE * 3);
      assert.equal(c.maxLeaders(), 1, 'never two leaders at once');
      assert.ok(leader.isLeader, 'the leader renewed its lease');
      assert.equal(leader.term, term, 'same term while the holder does not change');
    } finally {
      await c.stop();
    }
  });

  it('a leader cut off from the database steps down before another is elected, within the lease', async () => {
    const c = cluster(3);
    try {
      const { leader } = await waitForLeader(c.electors, 2_000);
      const firstTerm = leader.term as number;
      const deposed = new Promise<number>((r) => leader.once('deposed', () => r(performance.now())));
      // Its connections die (as when its host is cut off): renewals fail, nothing resigns.
      const i = c.electors.indexOf(leader);
      await (c.pools[i] as pg.Pool).end();
      const cut = performance.now();
      const rest = c.electors.filter((e) => e !== leader);
      const { leader: next } = await waitForLeader(rest, LEASE * 4);
      const electedAt = performance.now();
      const deposedAt = await deposed;
      assert.ok(deposedAt <= electedAt, 'the old leader stepped down before the new one was elected');
      assert.ok(electedAt - cut < LEASE + 2 * INTERVAL + 200, `takeover took ${Math.round(electedAt - cut)} ms (lease ${LEASE} ms)`);
      assert.ok((next.term as number) > firstTerm, 'a new term');
      assert.equal(c.maxLeaders(), 1, 'never two leaders at once');
    } finally {
      await c.stop();
    }
  });

  it('a clean stop resigns: another takes over at its next campaign, not after the lease', async () => {
    const c = cluster(2);
    try {
      const { leader } = await waitForLeader(c.electors, 2_000);
      const t0 = performance.now();
      await leader.stop();
      const other = c.electors.find((e) => e !== leader) as LeaderElection;
      await waitForLeader([other], LEASE * 2);
      assert.ok(performance.now() - t0 < INTERVAL + 150, `took over ${Math.round(performance.now() - t0)} ms after the resignation`);
      assert.ok(c.maxLeaders() <= 1, 'never two leaders at once');
    } finally {
      await c.stop();
    }
  });
});
