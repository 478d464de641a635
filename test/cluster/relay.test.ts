/**
 * The relay's wiring between the local event bus and the cluster bus, with
 * two instances on an in-memory hub that delivers like pg-bus (to every
 * other instance, never back to the sender). What each instance does with a
 * message (store reads, the scheduler) is covered by the multi-instance
 * suite on real processes; here, only what goes out and what comes in.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { relayCluster } from '../../src/cluster/relay.ts';
import type { ClusterBus, Message, Topic } from '../../src/cluster/bus.ts';
import { Events } from '../../src/events.ts';
import type { Scheduler } from '../../src/scheduler/scheduler.ts';
import type { Store } from '../../src/store/store.ts';

function hub(): { join(name: string): ClusterBus; sent: { from: string; topic: Topic; msg: Message }[] } {
  const members = new Map<string, Map<Topic, Set<(m: Message) => void>>>();
  const sent: { from: string; topic: Topic; msg: Message }[] = [];
  return {
    sent,
    join(name) {
      const handlers = new Map<Topic, Set<(m: Message) => void>>();
      members.set(name, handlers);
      return {
        shared: true,
        publish(topic, msg) {
          sent.push({ from: name, topic, msg });
          for (const [other, hs] of members) if (other !== name) for (const h of hs.get(topic) ?? []) h(msg);
        },
        on(topic, handler) {
          const set = handlers.get(topic) ?? new Set();
          handlers.set(topic, set.add(handler));
          return () => set.delete(handler);
        },
        onResync: () => () => {},
        close: async () => {},
      };
    },
  };
}

function instance(bus: ClusterBus): { events: Events; progress: unknown[][]; off: () => void } {
  const events = new Events();
  const progress: unknown[][] = [];
  events.on('request:progress', (...args) => progress.push(args));
  const scheduler = { leading: false, forget() {}, enqueued() {}, resync: async () => {}, cancel: async () => {} } as unknown as Scheduler;
  const store = { getRequest: async () => null } as unknown as Store;
  const off = relayCluster({ bus, events, store, scheduler, refresh: async () => {}, interested: () => false, onError: (err) => assert.fail(String(err)), resyncMs: 1_000 });
  return { events, progress, off };
}

test('progress reported on one instance is shown once on the others, and not sent back', () => {
  const h = hub();
  const a = instance(h.join('a'));
  const b = instance(h.join('b'));
  const c = instance(h.join('c'));
  a.events.emit('request:progress', 'r1', 30, 'step 30');
  a.events.emit('request:progress', 'r1', 60, undefined);
  assert.deepEqual(h.sent.map((s) => [s.from, s.topic, s.msg]), [
    ['a', 'progress', { id: 'r1', percent: 30, message: 'step 30' }],
    ['a', 'progress', { id: 'r1', percent: 60 }],
  ]);
  for (const x of [b, c]) assert.deepEqual(x.progress, [['r1', 30, 'step 30'], ['r1', 60, undefined]]);
  // Its own reports are still published after it has shown one from elsewhere.
  b.events.emit('request:progress', 'r2', 10, undefined);
  assert.deepEqual(h.sent.at(-1), { from: 'b', topic: 'progress', msg: { id: 'r2', percent: 10 } });
  assert.equal(h.sent.length, 3);
  for (const x of [a, b, c]) x.off();
});
