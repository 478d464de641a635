/**
 * Model-based random test of the store: a seeded sequence of operations
 * (enqueue, claim, start, unclaim, setProgress, complete, retryLater, fail,
 * promote, cancel, reap; valid and stale tokens, wrong states) checked
 * against a small in-memory model after every step:
 *
 * - every operation succeeds exactly when the model says it may;
 * - per client and period: spentNano = Σ request costs, heldNano = Σ holds
 *   of non-terminal requests (so spent + held = Σ (cost + open hold)), and
 *   heldNano is never negative;
 * - every request's state, token, attempts and cost match the model;
 * - loadQueued and countByState agree with the model;
 * - at the end, each request's audit rows form one chain null → … → state.
 */
import assert from 'node:assert/strict';
import { AllotError } from '../../src/core/errors.ts';
import { isTerminal, type State } from '../../src/core/states.ts';
import type { Store } from '../../src/store/store.ts';
import { ERR, NEXT_PERIOD, PERIOD, Rng, T0, makeRequest, must, settlement, usage } from './fixtures.ts';

interface ModelRequest {
  readonly id: string;
  readonly clientId: string;
  readonly period: string;
  readonly hold: number;
  readonly maxAttempts: number;
  readonly idempotencyKey: string | null;
  state: State;
  token: number;
  attempts: number;
  /** Leases lost with their owner (not counted as attempts). */
  recoveries: number;
  owner: string | null;
  leaseExpiresAt: number | null;
  runAt: number | null;
  cost: number;
  audit: number;
}

const CLIENTS = ['rc-0', 'rc-1', 'rc-2'] as const;
const LIMITS: Readonly<Record<(typeof CLIENTS)[number], number | null>> = { 'rc-0': null, 'rc-1': 15_000, 'rc-2': 4_000 };
const PERIODS = [PERIOD, NEXT_PERIOD] as const;
const OWNERS = ['owner-a', 'owner-b'] as const;

type Op = 'enqueue' | 'claim' | 'start' | 'unclaim' | 'progress' | 'complete' | 'retryLater' | 'fail' | 'promote' | 'cancel' | 'reap';
const REQUEST_OPS: readonly Op[] = ['claim', 'start', 'unclaim', 'progress', 'complete', 'retryLater', 'fail', 'promote', 'cancel'];
/** Operations that may succeed in each state, weighted, so that sequences go somewhere. */
const LIKELY: Readonly<Record<State, readonly Op[]>> = {
  PENDING: ['claim', 'claim', 'claim', 'claim', 'claim', 'claim', 'cancel'],
  PREPARING: ['start', 'start', 'start', 'start', 'start', 'start', 'unclaim', 'unclaim', 'retryLater', 'fail', 'cancel'],
  RUNNING: ['complete', 'complete', 'complete', 'complete', 'retryLater', 'retryLater', 'retryLater', 'fail', 'progress', 'progress', 'cancel'],
  WAITING_RETRY: ['promote', 'promote', 'promote', 'promote', 'promote', 'cancel'],
  COMPLETED: [],
  FAILED: [],
  CANCELLED: [],
};

export async function randomOperations(store: Store, opts: { seed: number; operations: number; maxRequests: number; checkCoverage: boolean }): Promise<void> {
  const rng = new Rng(opts.seed);
  const model = new Map<string, ModelRequest>();
  let now = T0;
  let keys = 0;
  let ctx = '';
  const reached = new Set<State>();
  const stats = { accepted: 0, refused: 0, budgetExceeded: 0, existing: 0, reaped: 0 };

  /** Mostly requests still in flight, sometimes any. */
  const target = (): ModelRequest | undefined => {
    const all = [...model.values()];
    if (!all.length) return undefined;
    const open = all.filter((m) => !isTerminal(m.state));
    return open.length && rng.chance(0.85) ? rng.pick(open) : rng.pick(all);
  };
  /** Enqueue, reap, or an operation on some request: mostly one its state allows, sometimes any. */
  const nextOp = (): [Op, ModelRequest | undefined] => {
    const r = rng.next();
    const open = [...model.values()].filter((x) => !isTerminal(x.state)).length;
    const room = model.size < opts.maxRequests;
    // Spread admissions over the run: keep a few requests in flight while there is room.
    if (r < 0.12 || (room && open < 3)) return ['enqueue', undefined];
    if (r < 0.18) return ['reap', undefined];
    const m = target();
    if (!m) return ['enqueue', undefined];
    const likely = LIKELY[m.state];
    return [likely.length && rng.chance(0.75) ? rng.pick(likely) : rng.pick(REQUEST_OPS), m];
  };
  /** The current token most of the time, else a stale (or future) one. */
  const tokenFor = (m: ModelRequest): number => (rng.chance(0.8) ? m.token : m.token + rng.pick([-2, -1, 1]));
  const budgetOf = (clientId: string, period: string): { spent: number; held: number } => {
    let spent = 0;
    let held = 0;
    for (const m of model.values()) {
      if (m.clientId !== clientId || m.period !== period) continue;
      spent += m.cost;
      if (!isTerminal(m.state)) held += m.hold;
    }
    return { spent, held };
  };
  const expectNull = (r: unknown, ok: boolean, what: string): void => {
    assert.equal(r !== null && r !== false, ok, `${ctx}: ${what} ${ok ? 'should succeed' : 'should be refused'}`);
    if (ok) stats.accepted++;
    else stats.refused++;
  };
  const moveTo = (m: ModelRequest, to: State): void => {
    m.state = to;
    m.audit++;
    reached.add(to);
  };

  async function step(op: Op, m: ModelRequest | undefined): Promise<boolean> {
    switch (op) {
      case 'enqueue': {
        const clientId = rng.pick(CLIENTS);
        const period = rng.pick(PERIODS);
        const hold = rng.int(6001);
        const usedKeys = [...model.values()].filter((x) => x.clientId === clientId && x.idempotencyKey !== null);
        const reuse = usedKeys.length > 0 && rng.chance(0.2) ? rng.pick(usedKeys) : undefined;
        const key = reuse ? reuse.idempotencyKey : rng.chance(0.5) ? `key-${++keys}` : null;
        const limit = LIMITS[clientId];
        const b = budgetOf(clientId, period);
        const refused = !reuse && limit !== null && b.spent + b.held + hold > limit;
        if (!reuse && !refused && model.size >= opts.maxRequests) return false;
        const q = makeRequest({
          clientId, period, holdNano: hold, idempotencyKey: key, maxAttempts: 1 + rng.int(3), createdAt: now, updatedAt: now,
          template: rng.pick(['t-a', 't-b']),
        });
        if (refused) {
          await assert.rejects(store.enqueue({ request: q, budgetLimitNano: limit }), (e: unknown) => e instanceof AllotError && e.code === 'BUDGET_EXCEEDED', ctx);
          stats.budgetExceeded++;
          return true;
        }
        const r = await store.enqueue({ request: q, budgetLimitNano: limit });
        if (reuse) {
          assert.equal(r.kind, 'existing', ctx);
          assert.equal(r.request.id, reuse.id, ctx);
          stats.existing++;
          return true;
        }
        assert.equal(r.kind, 'created', ctx);
        reached.add('PENDING');
        model.set(q.id, {
          id: q.id, clientId, period, hold, maxAttempts: q.maxAttempts, idempotencyKey: key, state: 'PENDING', token: q.leaseToken,
          attempts: 0, recoveries: 0, owner: null, leaseExpiresAt: null, runAt: null, cost: 0, audit: 1,
        });
        return true;
      }
      case 'claim': {
        const x = must(m);
        const owner = rng.pick(OWNERS);
        const leaseMs = 2000 + rng.int(30_000);
        const r = await store.claim(x.id, { owner, now, leaseMs, reserved: { gpt: 10 } });
        const ok = x.state === 'PENDING';
        expectNull(r, ok, `claim of ${x.state}`);
        if (r) {
          assert.ok(r.leaseToken > x.token, `${ctx}: claim bumps the token`);
          x.token = r.leaseToken;
          x.owner = owner;
          x.leaseExpiresAt = now + leaseMs;
          moveTo(x, 'PREPARING');
        }
        return true;
      }
      case 'start': {
        const x = must(m);
        const token = tokenFor(x);
        const leaseExpiresAt = now + 2000 + rng.int(30_000);
        const r = await store.start(x.id, token, { now, deadlineAt: leaseExpiresAt - 500, leaseExpiresAt });
        expectNull(r, x.state === 'PREPARING' && token === x.token, `start of ${x.state} (token ${token} vs ${x.token})`);
        if (r) {
          x.attempts++;
          x.leaseExpiresAt = leaseExpiresAt;
          moveTo(x, 'RUNNING');
        }
        return true;
      }
      case 'unclaim': {
        const x = must(m);
        const token = tokenFor(x);
        const r = await store.unclaim(x.id, token, { now, reason: 'random' });
        expectNull(r, x.state === 'PREPARING' && token === x.token, `unclaim of ${x.state}`);
        if (r) {
          x.owner = null;
          x.leaseExpiresAt = null;
          moveTo(x, 'PENDING');
        }
        return true;
      }
      case 'progress': {
        const x = must(m);
        const token = tokenFor(x);
        const r = await store.setProgress(x.id, token, { percent: rng.int(101), message: 'p', at: now });
        expectNull(r, x.state === 'RUNNING' && token === x.token, `setProgress of ${x.state}`);
        return true;
      }
      case 'complete':
      case 'retryLater':
      case 'fail': {
        const x = must(m);
        let token = tokenFor(x);
        // complete with a valid token on a PREPARING request is covered by its own test.
        if (op === 'complete' && x.state === 'PREPARING' && token === x.token) token = x.token - 1;
        let kind: Op = op;
        // As the scheduler does: no retry once the attempts are used up.
        if (kind === 'retryLater' && x.attempts >= x.maxAttempts) kind = 'fail';
        const cost = rng.int(4000);
        const s = settlement(cost, usage(rng.int(500), rng.int(500), rng.chance(0.3) ? { email: 1 } : {}));
        const runAt = now + rng.int(5000);
        const r = kind === 'complete'
          ? await store.complete(x.id, token, { now, output: { n: rng.int(10) }, settlement: s })
          : kind === 'retryLater'
            ? await store.retryLater(x.id, token, { now, runAt, error: ERR, settlement: s })
            : await store.fail(x.id, token, { now, error: ERR, settlement: s });
        const from: readonly State[] = kind === 'complete' ? ['RUNNING'] : ['RUNNING', 'PREPARING'];
        expectNull(r, from.includes(x.state) && token === x.token, `${kind} of ${x.state} (token ${token} vs ${x.token})`);
        if (r) {
          x.cost += cost;
          x.owner = null;
          x.leaseExpiresAt = null;
          if (kind === 'retryLater') x.runAt = runAt;
          moveTo(x, kind === 'complete' ? 'COMPLETED' : kind === 'retryLater' ? 'WAITING_RETRY' : 'FAILED');
        }
        return true;
      }
      case 'promote': {
        const x = must(m);
        // Callers promote once runAt has passed; do not ask for an early promotion.
        if (x.state === 'WAITING_RETRY' && (x.runAt ?? 0) > now) now = must(x.runAt);
        const r = await store.promote(x.id, now);
        expectNull(r, x.state === 'WAITING_RETRY', `promote of ${x.state}`);
        if (r) {
          x.runAt = null;
          moveTo(x, 'PENDING');
        }
        return true;
      }
      case 'cancel': {
        const x = must(m);
        const r = await store.cancel(x.id, { now, actor: 'random', returned: {} });
        expectNull(r, !isTerminal(x.state), `cancel of ${x.state}`);
        if (r) {
          x.owner = null;
          x.leaseExpiresAt = null;
          moveTo(x, 'CANCELLED');
        }
        return true;
      }
      case 'reap': {
        now += rng.int(20_000);
        // self: the reaping dispatcher (its own expired leases count as attempts); takeForeign: every other lease is a dead owner's.
        const self = rng.chance(0.7) ? rng.pick(OWNERS) : undefined;
        const takeForeign = self !== undefined && rng.chance(0.4);
        const expected = new Map<string, State>();
        const counted = new Map<string, boolean>();
        for (const x of model.values()) {
          if (x.state !== 'PREPARING' && x.state !== 'RUNNING') continue;
          if (must(x.leaseExpiresAt) < now || (takeForeign && x.owner !== self)) {
            const own = x.owner === self;
            counted.set(x.id, own);
            const exhausted = own ? x.state === 'RUNNING' && x.attempts >= x.maxAttempts : x.recoveries + 1 > 2;
            expected.set(x.id, exhausted ? 'FAILED' : 'WAITING_RETRY');
          }
        }
        const reaped = await store.reapExpiredLeases(now, { self, takeForeign, maxRecoveries: 2 });
        assert.deepEqual(
          new Map(reaped.map((r) => [r.id, r.state])),
          expected,
          `${ctx}: reaped set (self ${String(self)}, takeForeign ${takeForeign})`,
        );
        assert.equal(reaped.length, expected.size, `${ctx}: each reaped once`);
        stats.reaped += reaped.length;
        for (const [id, to] of expected) {
          const x = must(model.get(id));
          if (!counted.get(id)) {
            // A lost lease: the attempt it was on is given back.
            x.recoveries++;
            if (x.state === 'RUNNING') x.attempts--;
          }
          x.owner = null;
          x.leaseExpiresAt = null;
          if (to === 'WAITING_RETRY') x.runAt = now;
          moveTo(x, to);
        }
        return true;
      }
    }
  }

  async function check(): Promise<void> {
    const rows = await store.listRequests({ limit: 10_000 });
    assert.equal(rows.length, model.size, `${ctx}: request count`);
    for (const r of rows) {
      const x = must(model.get(r.id), `${ctx}: model of ${r.id}`);
      assert.deepEqual(
        { state: r.state, token: r.leaseToken, attempts: r.attempts, recoveries: r.recoveries ?? 0, cost: r.costNano, hold: r.holdNano },
        { state: x.state, token: x.token, attempts: x.attempts, recoveries: x.recoveries, cost: x.cost, hold: x.hold },
        `${ctx}: request ${r.id}`,
      );
      if (r.state === 'WAITING_RETRY') assert.equal(r.runAt, x.runAt, `${ctx}: runAt of ${r.id}`);
    }
    for (const clientId of CLIENTS) {
      for (const period of PERIODS) {
        const b = await store.getBudget(clientId, period);
        const want = budgetOf(clientId, period);
        const where = `${ctx}: budget ${clientId} ${period}`;
        assert.ok(b.heldNano >= 0, `${where}: heldNano ${b.heldNano} < 0`);
        assert.equal(b.spentNano + b.heldNano, want.spent + want.held, `${where}: spent + held`);
        assert.equal(b.spentNano, want.spent, `${where}: spent = Σ cost`);
        assert.equal(b.heldNano, want.held, `${where}: held = Σ open holds`);
        const fromRows = rows.filter((r) => r.clientId === clientId && r.period === period)
          .reduce((s, r) => s + r.costNano + (isTerminal(r.state) ? 0 : r.holdNano), 0);
        assert.equal(b.spentNano + b.heldNano, fromRows, `${where}: spent + held = Σ over stored requests`);
      }
    }
    const queued = (await store.loadQueued()).map((r) => r.id).toSorted();
    assert.deepEqual(queued, [...model.values()].filter((x) => x.state === 'PENDING' || x.state === 'WAITING_RETRY').map((x) => x.id).toSorted(), `${ctx}: loadQueued`);
    const counts = await store.countByState();
    for (const [state, n] of Object.entries(counts)) {
      assert.equal(n, [...model.values()].filter((x) => x.state === state).length, `${ctx}: countByState ${state}`);
    }
  }

  let done = 0;
  for (let attempt = 0; done < opts.operations && attempt < opts.operations * 10; attempt++) {
    now += rng.int(500);
    const [op, m] = nextOp();
    ctx = `seed ${opts.seed}, operation ${done} (${op})`;
    if (!(await step(op, m))) continue;
    done++;
    await check();
  }
  assert.equal(done, opts.operations, 'all operations ran');
  // The default seeds must exercise the whole machine, not one corner of it
  // (a few arbitrary seeds do not reap, or do not reach every state).
  if (opts.checkCoverage) assert.equal(reached.size, 7, `seed ${opts.seed}: states reached: ${[...reached].join(', ')}`);
  if (opts.checkCoverage) for (const [k, v] of Object.entries(stats)) assert.ok(v > 0, `seed ${opts.seed}: no ${k} operations (${JSON.stringify(stats)})`);

  for (const x of model.values()) {
    const rows = await store.listAudit({ requestId: x.id, limit: 100_000 });
    assert.equal(rows.length, x.audit, `seed ${opts.seed}: audit rows of ${x.id}`);
    let prev: string | null = null;
    for (const a of rows) {
      assert.equal(a.kind, 'transition');
      assert.equal(a.clientId, x.clientId);
      assert.equal(a.from, prev, `seed ${opts.seed}: audit chain of ${x.id}`);
      prev = a.to;
    }
    assert.equal(prev, x.state, `seed ${opts.seed}: last audit row of ${x.id} ends in its state`);
  }
}
