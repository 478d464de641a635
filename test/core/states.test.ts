import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AllotError } from '../../src/core/errors.ts';
import {
  STATES,
  TERMINAL_STATES,
  CANCELLABLE_STATES,
  assertTransition,
  canTransition,
  isState,
  isTerminal,
  type State,
} from '../../src/core/states.ts';

const ALL: readonly State[] = ['PENDING', 'PREPARING', 'RUNNING', 'COMPLETED', 'FAILED', 'WAITING_RETRY', 'CANCELLED'];

/** The transition table of states.ts, written out independently. */
const ALLOWED: Readonly<Record<State, readonly State[]>> = {
  PENDING: ['PREPARING', 'CANCELLED'],
  PREPARING: ['RUNNING', 'PENDING', 'WAITING_RETRY', 'FAILED', 'CANCELLED'],
  RUNNING: ['COMPLETED', 'FAILED', 'WAITING_RETRY', 'CANCELLED'],
  WAITING_RETRY: ['PENDING', 'CANCELLED'],
  COMPLETED: [],
  FAILED: [],
  CANCELLED: [],
};

describe('states', () => {
  it('STATES lists exactly the seven states, each mapping to its own name', () => {
    assert.deepEqual(Object.keys(STATES).toSorted(), [...ALL].toSorted());
    for (const [k, v] of Object.entries(STATES)) assert.equal(k, v);
    assert.ok(Object.isFrozen(STATES));
  });

  it('isState accepts the seven states and nothing else', () => {
    for (const s of ALL) assert.equal(isState(s), true, s);
    for (const s of ['pending', 'Running', '', 'DONE', 'toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      assert.equal(isState(s), false, s);
    }
  });

  describe('every (from, to) pair of the 49', () => {
    for (const from of ALL) {
      for (const to of ALL) {
        const allowed = ALLOWED[from].includes(to);
        it(`${from} → ${to} is ${allowed ? 'allowed' : 'rejected'}`, () => {
          assert.equal(canTransition(from, to), allowed);
          if (allowed) {
            assert.doesNotThrow(() => assertTransition(from, to));
          } else {
            assert.throws(
              () => assertTransition(from, to),
              (e: unknown) => {
                assert.ok(e instanceof AllotError);
                assert.equal(e.code, 'CONFLICT');
                assert.equal(e.status, 409);
                assert.equal(e.retryable, false);
                assert.ok(e.message.includes(from), `message names ${from}: ${e.message}`);
                assert.ok(e.message.includes(to), `message names ${to}: ${e.message}`);
                assert.deepEqual(e.details, { from, to });
                return true;
              },
            );
          }
        });
      }
    }
  });

  it('the table has exactly 13 legal transitions and no self-loops', () => {
    let n = 0;
    for (const from of ALL) for (const to of ALL) if (canTransition(from, to)) n++;
    assert.equal(n, 13);
    for (const s of ALL) assert.equal(canTransition(s, s), false, s);
  });

  it('terminal states are COMPLETED, FAILED, CANCELLED and have no exits', () => {
    assert.deepEqual([...TERMINAL_STATES].toSorted(), ['CANCELLED', 'COMPLETED', 'FAILED']);
    for (const s of ALL) {
      const terminal = ['COMPLETED', 'FAILED', 'CANCELLED'].includes(s);
      assert.equal(isTerminal(s), terminal, s);
      const exits = ALL.filter((to) => canTransition(s, to));
      if (terminal) assert.deepEqual(exits, [], `${s} has no exits`);
      else assert.ok(exits.length > 0, `${s} has exits`);
    }
  });

  it('every non-terminal state is cancellable, and only those', () => {
    assert.deepEqual([...CANCELLABLE_STATES].toSorted(), ALL.filter((s) => !isTerminal(s)).toSorted());
    for (const s of ALL) assert.equal(canTransition(s, 'CANCELLED'), CANCELLABLE_STATES.includes(s), s);
  });

  it('every terminal state is reachable from PENDING and PENDING is reachable again after a retry', () => {
    const seen = new Set<State>(['PENDING']);
    const queue: State[] = ['PENDING'];
    while (queue.length > 0) {
      const s = queue.shift() as State;
      for (const to of ALL) {
        if (canTransition(s, to) && !seen.has(to)) {
          seen.add(to);
          queue.push(to);
        }
      }
    }
    assert.deepEqual([...seen].toSorted(), [...ALL].toSorted());
    // The happy path and the retry loop walk legally.
    const path: State[] = ['PENDING', 'PREPARING', 'RUNNING', 'WAITING_RETRY', 'PENDING', 'PREPARING', 'RUNNING', 'COMPLETED'];
    for (let i = 1; i < path.length; i++) assertTransition(path[i - 1] as State, path[i] as State);
  });

  it('a finished request cannot be revived, retried or cancelled', () => {
    for (const t of ['COMPLETED', 'FAILED', 'CANCELLED'] as const) {
      for (const to of ['PENDING', 'RUNNING', 'WAITING_RETRY', 'CANCELLED'] as const) {
        assert.throws(() => assertTransition(t, to), { code: 'CONFLICT' });
      }
    }
  });

  it('work cannot skip reservation or dispatch', () => {
    assert.throws(() => assertTransition('PENDING', 'RUNNING'), { code: 'CONFLICT' });
    assert.throws(() => assertTransition('PENDING', 'COMPLETED'), { code: 'CONFLICT' });
    assert.throws(() => assertTransition('PREPARING', 'COMPLETED'), { code: 'CONFLICT' });
    assert.throws(() => assertTransition('WAITING_RETRY', 'RUNNING'), { code: 'CONFLICT' });
    assert.throws(() => assertTransition('RUNNING', 'PENDING'), { code: 'CONFLICT' });
  });
});
