/**
 * What one instance does that the others must hear of, over the cluster bus
 * (src/cluster/bus.ts), and what it does when it hears of theirs. Messages
 * carry ids; receivers re-read the shared store.
 *
 * - accepted here → `enqueued`: every instance queues it (the leader to
 *   schedule it, the others as a replica for positions and views);
 * - a transition here → `request`: replicas forget what left PENDING, queue
 *   what came back to it (a retry), and waiters and streams on other
 *   instances hear of it (`request:changed`);
 * - cancelled here → `cancelled`: the leader aborts the dispatch and gives
 *   back what it had reserved;
 * - progress reported here → `progress`: streams elsewhere show it;
 * - an admin change here → `registry`: every instance reloads clients,
 *   workers, templates, tiers, resources, migration switches and the
 *   scheduler's pause from the store.
 * On `onResync` (a reconnect, and every poll interval as a backstop),
 * replicas re-read the queue and the registry.
 */
import type { EventMap, Events } from '../events.ts';
import type { WorkRequest } from '../model.ts';
import type { Scheduler } from '../scheduler/scheduler.ts';
import type { Store } from '../store/store.ts';
import type { ClusterBus } from './bus.ts';

export interface RelayDeps {
  readonly bus: ClusterBus;
  readonly events: Events;
  readonly store: Store;
  readonly scheduler: Scheduler;
  /** Re-read what admins change (registry, migration switches, the scheduler's pause) from the store. */
  readonly refresh: () => Promise<void>;
  /** Whether this instance has a caller waiting for, or a stream following, the request. */
  readonly interested: (id: string) => boolean;
  readonly onError: (err: unknown, what: string) => void;
  /** Re-read the whole queue at most this often (the registry is re-read at every resync). */
  readonly resyncMs: number;
}

const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

/** Wire the relay; returns a function that unwires it. */
export function relayCluster(d: RelayDeps): () => void {
  const { bus, events, store, scheduler } = d;
  const offs: (() => void)[] = [];
  const on = <K extends keyof EventMap>(e: K, fn: (...args: EventMap[K]) => void): void => {
    events.on(e, fn as never);
    offs.push(() => events.off(e, fn as never));
  };
  const announce = (r: WorkRequest, ..._rest: unknown[]): void => bus.publish('request', { id: r.id, state: r.state });
  on('request:accepted', (r: WorkRequest) => bus.publish('enqueued', { id: r.id }));
  for (const e of ['request:claimed', 'request:started', 'request:retrying', 'request:completed', 'request:failed'] as const) on(e, announce);
  on('request:cancelled', (r: WorkRequest) => {
    announce(r);
    bus.publish('cancelled', { id: r.id });
  });
  // Progress heard from the bus is shown here, not sent back out (two instances would echo it between them forever).
  let relayingProgress = false;
  on('request:progress', (id: string, percent: number, message: string | undefined) => {
    if (!relayingProgress) bus.publish('progress', { id, percent, ...(message === undefined ? {} : { message }) });
  });
  on('admin:action', () => bus.publish('registry', {}));

  const read = async (id: string): Promise<WorkRequest | null> => {
    try {
      return await store.getRequest(id);
    } catch (err) {
      d.onError(err, `reading request ${id}`);
      return null;
    }
  };
  offs.push(
    bus.on('enqueued', (m) => {
      void read(String(m.id)).then((r) => {
        if (r && r.state === 'PENDING' && (r.system ?? 'allot') === 'allot') scheduler.enqueued(r);
      });
    }),
    bus.on('request', (m) => {
      const id = String(m.id);
      const state = String(m.state);
      if (state !== 'PENDING') scheduler.forget(id);
      if (state === 'PENDING' || (TERMINAL.has(state) && d.interested(id)) || events.listenerCount('request:changed') > 1) {
        void read(id).then((r) => {
          if (!r) return;
          if (r.state === 'PENDING') scheduler.enqueued(r);
          events.emit('request:changed', r);
        });
      }
    }),
    bus.on('cancelled', (m) => {
      // The leader holds the dispatch: abort it and give back its reservation (the store has it cancelled already).
      if (scheduler.leading) void scheduler.cancel(String(m.id), 'cluster').catch((err: unknown) => d.onError(err, 'relaying a cancel'));
    }),
    bus.on('progress', (m) => {
      relayingProgress = true;
      try {
        events.emit('request:progress', String(m.id), Number(m.percent), m.message === undefined ? undefined : String(m.message));
      } finally {
        relayingProgress = false;
      }
    }),
    bus.on('registry', () => void d.refresh().catch((err: unknown) => d.onError(err, 'reloading what an admin changed'))),
  );
  let last = performance.now();
  offs.push(
    bus.onResync(() => {
      // Admin changes reach the others within a poll interval even if their message was lost.
      void d.refresh().catch((err: unknown) => d.onError(err, 'reloading what an admin changed'));
      const now = performance.now();
      if (now - last < d.resyncMs) return;
      last = now;
      void scheduler.resync().catch((err: unknown) => d.onError(err, 'resyncing the queue'));
    }),
  );
  return () => {
    for (const off of offs) off();
  };
}
