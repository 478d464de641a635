import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FakeClock, HOUR, SECOND } from '../../src/core/clock.ts';
import { score } from '../../src/core/priority.ts';
import { RunQueue, type Eligibility, type PickOptions, type QueueClass, type QueuedItem } from '../../src/core/run-queue.ts';

/** Starvation threshold; 400 s keeps the aging keys exact in floating point for the default FakeClock start. */
const T = 400_000;
const T0 = new FakeClock().now();

// Tier + urgency points of typical requests.
const ENTERPRISE_CRITICAL = 40 + 30;
const BASIC_LOW = 10 + 0;

interface ItemOpts {
  client?: string;
  group?: string;
  base?: number;
  at?: number;
  klass?: QueueClass;
}
const item = (id: string, o: ItemOpts = {}): QueuedItem => ({
  id,
  clientId: o.client ?? 'c1',
  group: o.group ?? 'g1',
  klass: o.klass ?? 0,
  basePoints: o.base ?? 20,
  enqueuedAt: o.at ?? T0,
});

const blockClientA = (i: QueuedItem): Eligibility => (i.clientId === 'a' ? 'client' : 'ok');
const blockClientX = (i: QueuedItem): Eligibility => (i.clientId === 'X' ? 'client' : 'ok');
const blockXAndY1sGroup = (i: QueuedItem): Eligibility => (i.clientId === 'X' ? 'client' : i.id === 'Y1' ? 'group' : 'ok');
const bigModelBusy = (i: QueuedItem): Eligibility => (i.group === 'big-model' ? 'group' : 'ok');
const lightIsFair = (c: string): number => (c === 'light' ? 10 : 0);
const noFairness = (): number => 0;

const opts = (now: number, more: Partial<PickOptions> = {}): PickOptions => ({
  now,
  fairness: () => 0,
  eligible: () => 'ok',
  allowDeferred: false,
  ...more,
});

function drain(q: RunQueue, o: PickOptions): string[] {
  const out: string[] = [];
  for (let got = q.pick(o); got; got = q.pick(o)) out.push(got.id);
  return out;
}

describe('RunQueue basics', () => {
  it('an empty queue picks nothing', () => {
    const q = new RunQueue(T);
    assert.equal(q.size, 0);
    assert.equal(q.pick(opts(T0)), undefined);
  });

  it('higher base points are served first', () => {
    const q = new RunQueue(T);
    q.push(item('low', { base: 10 }));
    q.push(item('top', { base: 70, client: 'c2' }));
    q.push(item('mid', { base: 40, group: 'g2' }));
    assert.equal(q.size, 3);
    assert.deepEqual(drain(q, opts(T0)), ['top', 'mid', 'low']);
    assert.equal(q.size, 0);
  });

  it('FIFO among equal priority, within a client and across clients and groups', () => {
    const q = new RunQueue(T);
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    ids.forEach((id, i) => q.push(item(id, { client: `c${i % 2}`, group: `g${i % 3}` })));
    assert.deepEqual(drain(q, opts(T0)), ids);
  });

  it('pick removes what it returns; has/size/items follow', () => {
    const q = new RunQueue(T);
    q.push(item('a', { base: 50 }));
    q.push(item('b', { base: 10 }));
    assert.deepEqual([...q.items()].map((i) => i.id).toSorted(), ['a', 'b']);
    const got = q.pick(opts(T0));
    assert.deepEqual(got, item('a', { base: 50 }));
    assert.equal(q.has('a'), false);
    assert.equal(q.has('b'), true);
    assert.equal(q.size, 1);
    assert.deepEqual([...q.items()].map((i) => i.id), ['b']);
  });
});

describe('RunQueue aging', () => {
  // A (base 20) at T0 and B (base 30) at T0 + d: B's 10-point lead is made up after T/2 of extra wait.
  for (const sameHeap of [false, true]) {
    const where = sameHeap ? 'same client and group' : 'different clients and groups';
    const setup = (d: number): RunQueue => {
      const q = new RunQueue(T);
      q.push(item('A', { base: 20, at: T0, client: 'ca', group: 'ga' }));
      q.push(item('B', { base: 30, at: T0 + d, client: sameHeap ? 'ca' : 'cb', group: sameHeap ? 'ga' : 'gb' }));
      return q;
    };

    it(`newer higher-base request still wins 1 ms before the lead is made up (${where})`, () => {
      const d = T / 2 - 1;
      assert.deepEqual(drain(setup(d), opts(T0 + d)), ['B', 'A']);
    });

    it(`exactly at T/2 the scores tie and the older request wins (FIFO) (${where})`, () => {
      const d = T / 2;
      const now = T0 + d;
      assert.equal(score(20, 'low', now - T0, T, 0).total, score(30, 'low', 0, T, 0).total);
      assert.deepEqual(drain(setup(d), opts(now)), ['A', 'B']);
    });

    it(`past T/2 the older lower-base request overtakes (${where})`, () => {
      const d = T / 2 + 1;
      assert.deepEqual(drain(setup(d), opts(T0 + d)), ['A', 'B']);
    });

    it(`the order does not depend on when pick is called, as long as nobody is starved (${where})`, () => {
      const d = T / 2 - 1000;
      for (const now of [T0 + d, T0 + d + 1000, T0 + T - 1]) {
        assert.deepEqual(drain(setup(d), opts(now)), ['B', 'A'], `now=${now}`);
      }
    });
  }
});

describe('RunQueue starvation', () => {
  it('a basic-low request is served at exactly T despite a steady stream of enterprise-critical work', () => {
    const q = new RunQueue(T);
    const clock = new FakeClock(T0);
    q.push(item('basic', { base: BASIC_LOW, at: clock.now(), client: 'basic' }));
    let n = 0;
    const pushEnt = (): void => q.push(item(`ent${n++}`, { base: ENTERPRISE_CRITICAL, at: clock.now(), client: 'ent' }));
    pushEnt();
    pushEnt();
    pushEnt();
    let servedAt: number | undefined;
    for (let step = 0; step < 60 && servedAt === undefined; step++) {
      clock.set(T0 + step * 10 * SECOND);
      pushEnt();
      const got = q.pick(opts(clock.now()));
      assert.ok(got);
      if (got.id === 'basic') servedAt = clock.now();
    }
    assert.equal(servedAt, T0 + T);
  });

  it('aging alone would not have been enough: 1 ms before T the enterprise request wins', () => {
    const q = new RunQueue(T);
    q.push(item('basic', { base: BASIC_LOW, at: T0, client: 'basic' }));
    q.push(item('ent', { base: ENTERPRISE_CRITICAL, at: T0 + T - 1, client: 'ent' }));
    assert.equal(q.pick(opts(T0 + T - 1))?.id, 'ent');
  });

  it('starved requests go oldest first, across groups and clients', () => {
    const q = new RunQueue(T);
    q.push(item('s2', { base: 70, at: T0 + 1000, group: 'g2', client: 'c2' }));
    q.push(item('s1', { base: 0, at: T0, group: 'g1', client: 'c1' }));
    q.push(item('s3', { base: 40, at: T0 + 2000, group: 'g1', client: 'c3' }));
    q.push(item('fresh', { base: 100, at: T0 + T + 2000, group: 'g3', client: 'c4' }));
    assert.deepEqual(drain(q, opts(T0 + T + 2000)), ['s1', 's2', 's3', 'fresh']);
  });

  it('a starved batch request is served before fresh scored work', () => {
    const q = new RunQueue(T);
    q.push(item('batch', { klass: 1, base: 0, at: T0 }));
    q.push(item('scored', { base: 70, at: T0 + T, client: 'c2' }));
    assert.deepEqual(drain(q, opts(T0 + T)), ['batch', 'scored']);
  });

  it('a starved request whose group does not fit holds its group; other groups still run', () => {
    const q = new RunQueue(T);
    const now = T0 + T;
    q.push(item('S', { base: BASIC_LOW, at: T0, group: 'G', client: 'a' }));
    q.push(item('F', { base: ENTERPRISE_CRITICAL, at: now, group: 'G', client: 'b' }));
    q.push(item('F2', { base: ENTERPRISE_CRITICAL, at: now, group: 'G', client: 'a' }));
    q.push(item('H', { base: 0, at: now, group: 'H', client: 'c' }));
    let sFits = false;
    const asked: string[] = [];
    const eligible = (i: QueuedItem): Eligibility => {
      asked.push(i.id);
      return i.id === 'S' && !sFits ? 'group' : 'ok';
    };
    assert.equal(q.pick(opts(now, { eligible }))?.id, 'H');
    assert.equal(q.pick(opts(now, { eligible })), undefined, 'nothing else in G may start');
    assert.equal(q.pick(opts(now + HOUR, { eligible })), undefined, 'still held later');
    assert.ok(!asked.includes('F') && !asked.includes('F2'), `held items were not even considered: ${asked.join(',')}`);
    assert.equal(q.size, 3);
    sFits = true;
    assert.deepEqual(drain(q, opts(now + HOUR, { eligible })), ['S', 'F', 'F2']);
  });

  it('a starved request blocked on its client does not hold its group', () => {
    const q = new RunQueue(T);
    const now = T0 + T;
    q.push(item('S', { base: 10, at: T0, group: 'G', client: 'a' }));
    q.push(item('F', { base: 10, at: now, group: 'G', client: 'b' }));
    assert.equal(q.pick(opts(now, { eligible: blockClientA }))?.id, 'F');
    assert.equal(q.pick(opts(now, { eligible: blockClientA })), undefined);
    assert.equal(q.pick(opts(now))?.id, 'S');
  });

  it('a starved deferred request waits for allowDeferred', () => {
    const q = new RunQueue(T);
    q.push(item('D', { klass: 2, base: 0, at: T0 }));
    q.push(item('N', { base: 0, at: T0 + T, client: 'c2' }));
    assert.deepEqual(drain(q, opts(T0 + T)), ['N']);
    assert.deepEqual(drain(q, opts(T0 + T, { allowDeferred: true })), ['D']);
  });

  it('when the clock goes back below the threshold, the request is no longer starved', () => {
    const build = (): RunQueue => {
      const q = new RunQueue(T);
      q.push(item('basic', { base: BASIC_LOW, at: T0, client: 'b' }));
      q.push(item('ent', { base: ENTERPRISE_CRITICAL, at: T0 + T, client: 'e' }));
      return q;
    };
    assert.deepEqual(drain(build(), opts(T0 + T)), ['basic', 'ent']);
    assert.deepEqual(drain(build(), opts(T0 + T - 1)), ['ent', 'basic']);
    // Far in the past (before anything was enqueued) nothing is starved and picks still work.
    assert.deepEqual(drain(build(), opts(T0 - HOUR)), ['ent', 'basic']);
  });

  it('a threshold of 0 is treated as 1 ms', () => {
    const q = new RunQueue(0);
    q.push(item('old', { base: 0, at: T0 }));
    q.push(item('new', { base: 70, at: T0 + 1, client: 'c2' }));
    assert.deepEqual(drain(q, opts(T0 + 1)), ['old', 'new']);
  });

  it('a starved request behind a client-blocked starved request of the same group is still served before scored work', () => {
    const q = new RunQueue(T);
    const now = T0 + T + 10;
    q.push(item('X1', { client: 'X', group: 'G', base: BASIC_LOW, at: T0 }));
    q.push(item('Y1', { client: 'Y', group: 'G', base: BASIC_LOW, at: T0 + 1 }));
    q.push(item('Z1', { client: 'Z', group: 'H', base: ENTERPRISE_CRITICAL, at: now }));
    assert.equal(q.pick(opts(now, { eligible: blockClientX }))?.id, 'Y1');
  });

  it('a starved request behind an older deferred request of the same group is still served before scored work', () => {
    const q = new RunQueue(T);
    const now = T0 + T + 10;
    q.push(item('D1', { client: 'X', group: 'G', base: 0, at: T0, klass: 2 }));
    q.push(item('S1', { client: 'Y', group: 'G', base: BASIC_LOW, at: T0 + 1 }));
    q.push(item('Z1', { client: 'Z', group: 'H', base: ENTERPRISE_CRITICAL, at: now }));
    assert.equal(q.pick(opts(now))?.id, 'S1');
  });
  it('the walk past skipped starved requests keeps global oldest-first order across groups', () => {
    const q = new RunQueue(T);
    const now = T0 + T + 100;
    q.push(item('X1', { client: 'X', group: 'G', at: T0 }));
    q.push(item('X2', { client: 'X', group: 'G', at: T0 + 1 }));
    q.push(item('D1', { client: 'Y', group: 'G', at: T0 + 2, klass: 2 }));
    q.push(item('Y1', { client: 'Y', group: 'G', at: T0 + 5 }));
    q.push(item('H1', { client: 'Z', group: 'H', at: T0 + 3 }));
    q.push(item('fresh', { client: 'W', group: 'K', base: 100, at: now }));
    const asked: string[] = [];
    const eligible = (i: QueuedItem): Eligibility => {
      asked.push(i.id);
      return blockClientX(i);
    };
    // X1 is refused for its client; X2 is skipped without asking; D1 is deferred; H1 (T0 + 3) precedes Y1 (T0 + 5).
    assert.deepEqual(drain(q, opts(now, { eligible })), ['H1', 'Y1', 'fresh']);
    assert.deepEqual(asked.slice(0, 2), ['X1', 'H1']);
    assert.ok(!asked.includes('X2') && !asked.includes('D1'), `asked: ${asked.join(',')}`);
    // Everything walked past is still queued, in its order.
    assert.equal(q.size, 3);
    assert.deepEqual(drain(q, opts(now, { allowDeferred: true })), ['X1', 'X2', 'D1']);
  });

  it('a starved request found behind a client-blocked one holds its group when the group does not fit', () => {
    const q = new RunQueue(T);
    const now = T0 + T + 10;
    q.push(item('X1', { client: 'X', group: 'G', at: T0 }));
    q.push(item('Y1', { client: 'Y', group: 'G', at: T0 + 1 }));
    q.push(item('F', { client: 'Z', group: 'G', base: 100, at: now }));
    q.push(item('H', { client: 'Z', group: 'H', base: 0, at: now }));
    assert.deepEqual(drain(q, opts(now, { eligible: blockXAndY1sGroup })), ['H'], 'F is held for Y1');
    assert.deepEqual(drain(q, opts(now)), ['X1', 'Y1', 'F']);
  });

  it('the walk stops at the first request that has not waited T', () => {
    const q = new RunQueue(T);
    const now = T0 + T;
    q.push(item('X1', { client: 'X', group: 'G', at: T0 }));
    q.push(item('Y1', { client: 'Y', group: 'G', base: 0, at: T0 + 1 }));
    q.push(item('Z1', { client: 'Z', group: 'H', base: 70, at: now }));
    // Y1 has waited T − 1 ms: not starved, so the enterprise request wins on score.
    assert.equal(q.pick(opts(now, { eligible: blockClientX }))?.id, 'Z1');
    assert.equal(q.pick(opts(now + 1, { eligible: blockClientX }))?.id, 'Y1');
  });

  it('removed requests met during the walk are dropped and never picked', () => {
    const q = new RunQueue(T);
    const now = T0 + T + 10;
    q.push(item('X1', { client: 'X', group: 'G', at: T0 }));
    q.push(item('gone', { client: 'Y', group: 'G', at: T0 + 1 }));
    q.push(item('Y2', { client: 'Y', group: 'G', at: T0 + 2 }));
    q.push(item('Z1', { client: 'Z', group: 'H', base: 70, at: now }));
    q.remove('gone');
    assert.deepEqual(drain(q, opts(now, { eligible: blockClientX })), ['Y2', 'Z1']);
    assert.deepEqual(drain(q, opts(now)), ['X1']);
  });
});

describe('RunQueue eligibility', () => {
  it("'client' skips every item of that client, in every group; other clients run", () => {
    const q = new RunQueue(T);
    q.push(item('a1', { client: 'a', group: 'G', base: 70 }));
    q.push(item('a2', { client: 'a', group: 'H', base: 60 }));
    q.push(item('b1', { client: 'b', group: 'G', base: 10 }));
    const asked: string[] = [];
    const eligible = (i: QueuedItem): Eligibility => {
      asked.push(i.id);
      return i.clientId === 'a' ? 'client' : 'ok';
    };
    assert.equal(q.pick(opts(T0, { eligible }))?.id, 'b1');
    assert.deepEqual(asked, ['a1', 'b1'], 'a2 is skipped without asking');
    assert.equal(q.pick(opts(T0, { eligible })), undefined);
    assert.equal(q.size, 2);
    assert.deepEqual(drain(q, opts(T0)), ['a1', 'a2']);
  });

  it("'group' skips the whole group for this pick, across clients; no head-of-line blocking for other groups", () => {
    const q = new RunQueue(T);
    q.push(item('g1', { group: 'big-model', client: 'a', base: 70 }));
    q.push(item('g2', { group: 'big-model', client: 'b', base: 60 }));
    q.push(item('g3', { group: 'big-model', client: 'c', base: 50 }));
    q.push(item('s1', { group: 'small-model', client: 'a', base: 0 }));
    q.push(item('s2', { group: 'small-model', client: 'd', base: 0 }));
    assert.deepEqual(drain(q, opts(T0, { eligible: bigModelBusy })), ['s1', 's2']);
    assert.equal(q.size, 3);
    // A non-starved request does not hold its group beyond the pick: once free, the group runs in order.
    assert.deepEqual(drain(q, opts(T0)), ['g1', 'g2', 'g3']);
  });

  it('nothing eligible: pick returns undefined and keeps everything', () => {
    const q = new RunQueue(T);
    q.push(item('a'));
    q.push(item('b', { client: 'c2', group: 'g2' }));
    assert.equal(q.pick(opts(T0, { eligible: () => 'group' })), undefined);
    assert.equal(q.pick(opts(T0, { eligible: () => 'client' })), undefined);
    assert.equal(q.size, 2);
  });
});

describe('RunQueue classes', () => {
  it('batch ranks below all scored work, whatever its points; batch among itself by points', () => {
    const q = new RunQueue(T);
    q.push(item('b-hi', { klass: 1, base: 100 }));
    q.push(item('b-lo', { klass: 1, base: 0, client: 'c2' }));
    q.push(item('s-lo', { klass: 0, base: 0, client: 'c3', group: 'g2' }));
    assert.deepEqual(drain(q, opts(T0)), ['s-lo', 'b-hi', 'b-lo']);
  });

  it('deferred runs only when allowed, and then after scored and batch', () => {
    const q = new RunQueue(T);
    q.push(item('d', { klass: 2, base: 100 }));
    q.push(item('b', { klass: 1, base: 0 }));
    q.push(item('s', { klass: 0, base: 0 }));
    assert.equal(q.size, 3);
    assert.equal(q.nonDeferredSize, 2);
    assert.deepEqual(drain(q, opts(T0)), ['s', 'b']);
    assert.equal(q.size, 1);
    assert.equal(q.nonDeferredSize, 0);
    assert.equal(q.pick(opts(T0 + HOUR)), undefined);
    assert.equal(q.pick(opts(T0, { allowDeferred: true }))?.id, 'd');
    assert.equal(q.size, 0);
    assert.equal(q.nonDeferredSize, 0);
  });

  it('with deferred allowed, the order is scored, batch, deferred', () => {
    const q = new RunQueue(T);
    q.push(item('d', { klass: 2, base: 100, client: 'x' }));
    q.push(item('b', { klass: 1, base: 100, client: 'y' }));
    q.push(item('s', { klass: 0, base: 0, client: 'z' }));
    assert.deepEqual(drain(q, opts(T0, { allowDeferred: true })), ['s', 'b', 'd']);
  });
});

describe('RunQueue remove and re-push', () => {
  it('remove (cancel) returns true once, and removed items are never picked', () => {
    const q = new RunQueue(T);
    q.push(item('a', { base: 70 }));
    q.push(item('b', { base: 50 }));
    q.push(item('c', { base: 10, group: 'g2' }));
    q.push(item('d', { klass: 2 }));
    assert.equal(q.remove('a'), true);
    assert.equal(q.remove('a'), false);
    assert.equal(q.remove('nope'), false);
    assert.equal(q.remove('d'), true);
    assert.equal(q.has('a'), false);
    assert.equal(q.size, 2);
    assert.equal(q.nonDeferredSize, 2);
    assert.equal(q.position('a', T0, () => 0), undefined);
    assert.deepEqual(drain(q, opts(T0 + T * 10, { allowDeferred: true })), ['b', 'c']);
  });

  it('a removed starved request is not picked and does not hold its group', () => {
    const q = new RunQueue(T);
    q.push(item('S', { at: T0, base: 0 }));
    q.push(item('F', { at: T0 + T, base: 10, client: 'c2' }));
    q.remove('S');
    assert.deepEqual(drain(q, opts(T0 + T, { eligible: (i) => (i.id === 'S' ? 'group' : 'ok') })), ['F']);
  });

  it('pushing a live id again is ignored', () => {
    const q = new RunQueue(T);
    q.push(item('a', { base: 10 }));
    q.push(item('a', { base: 90, group: 'g2' }));
    assert.equal(q.size, 1);
    const got = q.pick(opts(T0));
    assert.equal(got?.basePoints, 10);
    assert.equal(got?.group, 'g1');
    assert.equal(q.pick(opts(T0)), undefined);
  });

  it('the same id can be pushed again after it was picked (a retry) and is picked again, once', () => {
    const q = new RunQueue(T);
    q.push(item('r', { at: T0 }));
    assert.equal(q.pick(opts(T0))?.id, 'r');
    assert.equal(q.has('r'), false);
    q.push(item('r', { at: T0 + 5000, base: 30 }));
    assert.equal(q.has('r'), true);
    const again = q.pick(opts(T0 + 5000));
    assert.equal(again?.enqueuedAt, T0 + 5000);
    assert.equal(q.pick(opts(T0 + 5000)), undefined);
    assert.equal(q.size, 0);
  });

  it('re-push after remove, even into another group and client, yields only the new version', () => {
    const q = new RunQueue(T);
    q.push(item('x', { group: 'g1', client: 'c1', base: 70, at: T0 }));
    q.remove('x');
    q.push(item('x', { group: 'g2', client: 'c2', base: 5, at: T0 + 1 }));
    q.push(item('y', { group: 'g1', client: 'c1', base: 20, at: T0 + 1 }));
    // The stale 'x' (old, starved-age, high base) must not resurface.
    const got = drain(q, opts(T0 + T));
    assert.deepEqual(got, ['y', 'x']);
    assert.equal(q.size, 0);
  });

  it('the old position of a picked-and-re-pushed id does not leak: its new enqueuedAt counts', () => {
    const q = new RunQueue(T);
    q.push(item('r', { at: T0, base: 10 }));
    q.pick(opts(T0));
    q.push(item('r', { at: T0 + T, base: 10 }));
    q.push(item('o', { at: T0 + 1, base: 10, client: 'c2' }));
    // At T0 + T + 1, 'o' is starved; the re-pushed 'r' is fresh.
    assert.deepEqual(drain(q, opts(T0 + T + 1)), ['o', 'r']);
  });
});

function heavyThenLight(): RunQueue {
  const q = new RunQueue(T);
  q.push(item('heavy', { client: 'heavy', base: 40 }));
  q.push(item('light', { client: 'light', base: 40 }));
  return q;
}

describe('RunQueue fairness', () => {
  it('fairness points shift order between clients of the same tier', () => {
    assert.deepEqual(drain(heavyThenLight(), opts(T0)), ['heavy', 'light'], 'equal fairness: FIFO');
    assert.deepEqual(drain(heavyThenLight(), opts(T0, { fairness: lightIsFair })), ['light', 'heavy']);
    assert.deepEqual(drain(heavyThenLight(), opts(T0, { fairness: () => 5 })), ['heavy', 'light']);
  });

  it('fairness trades against aging: 10 fairness points beat 5 points of wait but not 15', () => {
    for (const [waitAhead, expected] of [
      [T / 4, ['light', 'heavy']],
      [(3 * T) / 4, ['heavy', 'light']],
    ] as const) {
      const q = new RunQueue(T);
      q.push(item('heavy', { client: 'heavy', base: 40, at: T0 }));
      q.push(item('light', { client: 'light', base: 40, at: T0 + waitAhead }));
      assert.deepEqual(drain(q, opts(T0 + waitAhead, { fairness: lightIsFair })), expected);
    }
  });

  it('fairness is read at pick time, so changing usage reorders queued work', () => {
    const q = new RunQueue(T);
    for (let i = 0; i < 3; i++) {
      q.push(item(`a${i}`, { client: 'a', base: 20, at: T0 + i }));
      q.push(item(`b${i}`, { client: 'b', base: 20, at: T0 + i }));
    }
    // Alternate which client is "over its share" after each pick.
    const used: Record<string, number> = { a: 0, b: 0 };
    const out: string[] = [];
    for (let got = q.pick(opts(T0 + 10)); got; ) {
      out.push(got.id);
      used[got.clientId] = (used[got.clientId] ?? 0) + 1;
      const fairness = (c: string): number => ((used[c] ?? 0) > Math.min(used['a'] ?? 0, used['b'] ?? 0) ? 0 : 10);
      got = q.pick(opts(T0 + 10, { fairness }));
    }
    assert.deepEqual(out, ['a0', 'b0', 'a1', 'b1', 'a2', 'b2']);
  });
});

describe('RunQueue position', () => {
  it('counts the items picked before it; 0 is next; undefined when absent', () => {
    const q = new RunQueue(T);
    q.push(item('a', { base: 10 }));
    q.push(item('b', { base: 50 }));
    q.push(item('c', { base: 30, klass: 1 }));
    q.push(item('s', { base: 0, at: T0 - T }));
    assert.equal(q.position('s', T0, noFairness), 0);
    assert.equal(q.position('b', T0, noFairness), 1);
    assert.equal(q.position('a', T0, noFairness), 2);
    assert.equal(q.position('c', T0, noFairness), 3);
    assert.equal(q.position('zzz', T0, noFairness), undefined);
  });

  it('PROPERTY: position() agrees with the actual pick order when everything is eligible', () => {
    const itemArb = fc.record({
      client: fc.constantFrom('a', 'b', 'c'),
      group: fc.constantFrom('g1', 'g2', 'g3'),
      klass: fc.constantFrom<QueueClass>(0, 0, 0, 1, 2),
      base: fc.integer({ min: 0, max: 70 }),
      at: fc.integer({ min: 0, max: 2 * T }),
    });
    fc.assert(
      fc.property(
        fc.array(itemArb, { minLength: 1, maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 5 }),
        fc.integer({ min: -T, max: 3 * T }),
        fc.record({ a: fc.integer({ min: 0, max: 10 }), b: fc.integer({ min: 0, max: 10 }), c: fc.integer({ min: 0, max: 10 }) }),
        (specs, removals, nowOff, fairTable) => {
          const q = new RunQueue(T);
          const items = specs.map((s, i) => item(`r${i}`, { client: s.client, group: s.group, klass: s.klass, base: s.base, at: T0 + s.at }));
          for (const x of items) q.push(x);
          const removed = new Set<string>();
          for (const r of removals) {
            const id = `r${r % items.length}`;
            q.remove(id);
            removed.add(id);
          }
          const now = T0 + nowOff;
          const fairness = (c: string): number => fairTable[c as 'a' | 'b' | 'c'];
          const live = items.filter((i) => !removed.has(i.id));
          const positions = new Map(live.map((i) => [i.id, q.position(i.id, now, fairness)]));
          for (const id of removed) assert.equal(q.position(id, now, fairness), undefined);

          const order = drain(q, opts(now, { fairness, allowDeferred: true }));
          assert.equal(order.length, live.length, 'every live item is picked exactly once');
          assert.equal(new Set(order).size, order.length);
          for (const id of order) assert.ok(!removed.has(id), `removed ${id} was picked`);
          order.forEach((id, idx) => assert.equal(positions.get(id), idx, `position of ${id}`));

          // And the order is the documented one: starved oldest first, then class, then score, then FIFO.
          const rank = live.map((x, seq) => {
            const starved = now - x.enqueuedAt >= T;
            const eff = x.basePoints + (20 * (now - x.enqueuedAt)) / T + fairness(x.clientId);
            return { it: x, seq, starved, eff };
          });
          rank.sort((x, y) => {
            if (x.starved !== y.starved) return x.starved ? -1 : 1;
            if (x.starved) return x.it.enqueuedAt - y.it.enqueuedAt || x.seq - y.seq;
            if (x.it.klass !== y.it.klass) return x.it.klass - y.it.klass;
            if (Math.abs(x.eff - y.eff) > 1e-6) return y.eff - x.eff;
            return x.seq - y.seq;
          });
          assert.deepEqual(order, rank.map((r) => r.it.id));
        },
      ),
      { numRuns: 400 },
    );
  });

  it('PROPERTY: with random eligibility, pick never returns an ineligible, removed or duplicate item', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            client: fc.constantFrom('a', 'b', 'c'),
            group: fc.constantFrom('g1', 'g2'),
            klass: fc.constantFrom<QueueClass>(0, 1, 2),
            base: fc.integer({ min: 0, max: 70 }),
            at: fc.integer({ min: 0, max: 2 * T }),
          }),
          { minLength: 1, maxLength: 30 },
        ),
        fc.array(
          fc.record({
            now: fc.integer({ min: 0, max: 3 * T }),
            blockedClient: fc.option(fc.constantFrom('a', 'b', 'c'), { nil: undefined }),
            blockedGroup: fc.option(fc.constantFrom('g1', 'g2'), { nil: undefined }),
            allowDeferred: fc.boolean(),
            remove: fc.option(fc.nat(), { nil: undefined }),
          }),
          { maxLength: 40 },
        ),
        (specs, rounds) => {
          const q = new RunQueue(T);
          specs.forEach((s, i) => q.push(item(`r${i}`, { client: s.client, group: s.group, klass: s.klass, base: s.base, at: T0 + s.at })));
          const gone = new Set<string>();
          for (const r of rounds) {
            if (r.remove !== undefined) {
              const id = `r${r.remove % specs.length}`;
              q.remove(id);
              gone.add(id);
            }
            const eligible = (i: QueuedItem): Eligibility =>
              i.clientId === r.blockedClient ? 'client' : i.group === r.blockedGroup ? 'group' : 'ok';
            const before = q.size;
            const got = q.pick(opts(T0 + r.now, { eligible, allowDeferred: r.allowDeferred }));
            if (got) {
              assert.ok(!gone.has(got.id), `${got.id} returned twice or after removal`);
              assert.equal(eligible(got), 'ok');
              assert.ok(got.klass !== 2 || r.allowDeferred);
              gone.add(got.id);
              assert.equal(q.size, before - 1);
            } else {
              assert.equal(q.size, before);
              // Nothing was returned: then no live, allowed item of an unblocked client and group may exist,
              // except in a group held by a starved ineligible request.
              const candidates = [...q.items()].filter((i) => eligible(i) === 'ok' && (i.klass !== 2 || r.allowDeferred));
              for (const c of candidates) {
                const holder = [...q.items()].some(
                  (h) => h.group === c.group && T0 + r.now - h.enqueuedAt >= T && eligible(h) === 'group',
                );
                assert.ok(holder, `${c.id} was eligible but nothing was picked`);
              }
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

/**
 * The documented pick rule, naively over all live items: starved ones oldest
 * first (deferred only when allowed; a blocked client is skipped; a refusal
 * for the group holds it), then the rest by class, effective key and arrival.
 * Returns the pick and the items asked, in order.
 */
function modelPick(
  live: readonly { it: QueuedItem; seq: number }[],
  o: PickOptions,
): { picked: string | undefined; asked: string[] } {
  const asked: string[] = [];
  const blockedClients = new Set<string>();
  const blockedGroups = new Set<string>();
  const ask = (x: QueuedItem): Eligibility => {
    asked.push(x.id);
    const el = o.eligible(x);
    if (el === 'client') blockedClients.add(x.clientId);
    if (el === 'group') blockedGroups.add(x.group);
    return el;
  };
  const allowed = (x: QueuedItem): boolean => x.klass !== 2 || o.allowDeferred;
  const skip = (x: QueuedItem): boolean => blockedClients.has(x.clientId) || blockedGroups.has(x.group);
  const starved = live
    .filter((x) => o.now - x.it.enqueuedAt >= T && allowed(x.it))
    .toSorted((a, b) => a.it.enqueuedAt - b.it.enqueuedAt || a.seq - b.seq);
  for (const { it: x } of starved) if (!skip(x) && ask(x) === 'ok') return { picked: x.id, asked };
  const eff = (x: QueuedItem): number => x.basePoints - (20 * x.enqueuedAt) / T + o.fairness(x.clientId, x.group);
  const scored = live
    .filter((x) => allowed(x.it))
    .toSorted((a, b) => a.it.klass - b.it.klass || eff(b.it) - eff(a.it) || a.seq - b.seq);
  for (const { it: x } of scored) if (!skip(x) && ask(x) === 'ok') return { picked: x.id, asked };
  return { picked: undefined, asked };
}

describe('RunQueue against the model', () => {
  it('PROPERTY: pick returns what the documented rule returns, asking eligibility of the same items in the same order', () => {
    const eligibilityArb = fc.constantFrom<Eligibility>('ok', 'ok', 'ok', 'client', 'group');
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            client: fc.constantFrom('a', 'b', 'c', 'd'),
            group: fc.constantFrom('g1', 'g2', 'g3'),
            klass: fc.constantFrom<QueueClass>(0, 0, 1, 2),
            base: fc.integer({ min: 0, max: 70 }),
            at: fc.integer({ min: 0, max: 2 * T }),
          }),
          { minLength: 1, maxLength: 40 },
        ),
        fc.array(
          fc.record({
            now: fc.integer({ min: 0, max: 3 * T }),
            answers: fc.array(eligibilityArb, { minLength: 40, maxLength: 40 }),
            fair: fc.array(fc.integer({ min: 0, max: 10 }), { minLength: 4, maxLength: 4 }),
            allowDeferred: fc.boolean(),
            remove: fc.option(fc.nat(), { nil: undefined }),
          }),
          { maxLength: 30 },
        ),
        (specs, rounds) => {
          const q = new RunQueue(T);
          const all = specs.map((s, seq) => ({
            it: item(`r${seq}`, { client: s.client, group: s.group, klass: s.klass, base: s.base, at: T0 + s.at }),
            seq,
          }));
          for (const x of all) q.push(x.it);
          const gone = new Set<string>();
          for (const r of rounds) {
            if (r.remove !== undefined) {
              const id = `r${r.remove % specs.length}`;
              q.remove(id);
              gone.add(id);
            }
            const answer = (x: QueuedItem): Eligibility => r.answers[Number(x.id.slice(1))] ?? 'ok';
            const fairness = (c: string): number => r.fair['abcd'.indexOf(c)] ?? 0;
            const asked: string[] = [];
            const eligible = (x: QueuedItem): Eligibility => {
              asked.push(x.id);
              return answer(x);
            };
            const o = opts(T0 + r.now, { eligible, fairness, allowDeferred: r.allowDeferred });
            const expected = modelPick(
              all.filter((x) => !gone.has(x.it.id)),
              { ...o, eligible: answer },
            );
            const got = q.pick(o);
            assert.equal(got?.id, expected.picked);
            assert.deepEqual(asked, expected.asked);
            if (got) gone.add(got.id);
            assert.equal(q.size, specs.length - gone.size);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
