/** Alert state changes (src/core/alert-state.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alertChanges, type AlertCondition, type AlertRecord } from '../../src/core/alert-state.ts';

const c = (subject: string, severity: 'warning' | 'critical' = 'warning', value = 1): AlertCondition => ({ kind: 'budget_high', severity, subject, message: `${subject} at ${value}`, value });
const open = (id: number, cond: AlertCondition): AlertRecord => ({ ...cond, id, firedAt: 0, updatedAt: 0, resolvedAt: null });

test('new conditions fire, vanished ones resolve, held ones stay open', () => {
  const ch = alertChanges([open(1, c('a')), open(2, c('b'))], [c('b'), c('c')]);
  assert.deepEqual(ch.fire, [c('c')]);
  assert.deepEqual(ch.resolve.map((x) => x.id), [1]);
  assert.deepEqual(ch.update, [], 'b says the same: nothing to write');
});

test('a held condition that says something new is updated; a rise in severity escalates', () => {
  const ch = alertChanges([open(1, c('a')), open(2, c('b', 'critical'))], [c('a', 'critical', 2), c('b', 'warning', 3)]);
  assert.deepEqual(ch.update.map((u) => [u.open.id, u.now.severity, u.escalated]), [[1, 'critical', true], [2, 'warning', false]]);
  assert.deepEqual([ch.fire, ch.resolve], [[], []]);
});

test('the same condition on the same subject twice is one alert', () => {
  assert.deepEqual(alertChanges([], [c('a'), c('a', 'critical')]).fire, [c('a')]);
  assert.deepEqual(alertChanges([], []), { fire: [], update: [], resolve: [] });
});
