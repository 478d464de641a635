/** Fairness is measured per contended resource, over a decaying window. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FairnessTracker } from '../../src/scheduler/fairness-tracker.ts';

test('heavy use of one resource does not cost a client its fairness on another', () => {
  const f = new FairnessTracker(60_000);
  const t = 1_000_000;
  f.record('a', 'gpt-4', 9_000, t);
  f.record('b', 'gpt-4', 1_000, t);
  f.record('a', 'email', 1, t);
  f.record('b', 'email', 9, t);
  const active = ['a', 'b'];
  assert.equal(f.points('a', 'gpt-4', active, t), 0, '90% of gpt-4 is far above the fair 50%');
  assert.equal(f.points('b', 'gpt-4', active, t), 10);
  assert.equal(f.points('a', 'email', active, t), 10, 'a is light on email');
  assert.equal(f.points('b', 'email', active, t), 0);
  assert.equal(f.points('a', 'sms', active, t), 10, 'no usage recorded: everyone is fair');
});

test('the window decays: after some half-lives an old heavy user is back near its fair share', () => {
  const f = new FairnessTracker(60_000);
  f.record('a', 'r', 10_000, 0);
  f.record('b', 'r', 100, 0);
  assert.equal(f.points('a', 'r', ['a', 'b'], 0), 0);
  // Ten minutes later both used 100 more; a's old 10,000 has decayed to ~10.
  f.record('a', 'r', 100, 600_000);
  f.record('b', 'r', 100, 600_000);
  assert.ok(f.points('a', 'r', ['a', 'b'], 600_000) > 9, 'old usage no longer counts against a');
});

test('only active clients count: an idle client does not lower the share of others', () => {
  const f = new FairnessTracker(60_000);
  f.record('a', 'r', 500, 0);
  f.record('b', 'r', 500, 0);
  f.record('idle', 'r', 10_000, 0);
  assert.equal(f.points('a', 'r', ['a', 'b'], 0), 10);
});
