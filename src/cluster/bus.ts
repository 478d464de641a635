/**
 * How instances tell each other what changed. A message is a wake-up, not
 * the change itself: the change is already in the shared database, and a
 * receiver re-reads it. So a lost message (a reconnect, a full queue) costs
 * latency, not correctness: `onResync` fires after every reconnect and
 * every poll interval, and subscribers re-read what they cache.
 *
 * Topics (payloads are small JSON objects):
 * - `request` {id, state}: a request changed state (waiters, SSE streams).
 * - `enqueued` {id}: a request was accepted and waits for the scheduler.
 * - `cancelled` {id}: cancelled on some instance; its runner aborts the dispatch.
 * - `registry` {}: clients, keys, workers, templates, tiers or resources changed.
 * - `settings` {key}: a stored setting changed (migration switches, pause).
 * - `progress` {id, percent, message?}: a worker reported progress.
 */
export type Topic = 'request' | 'enqueued' | 'cancelled' | 'registry' | 'settings' | 'progress' | 'scheduler';
export type Message = Readonly<Record<string, unknown>>;

export interface ClusterBus {
  /** Whether other instances may be listening (false: the embedded, single-instance mode). */
  readonly shared: boolean;
  /** Tell the other instances; never throws (a failed publish is logged, and the poll backstop covers it). */
  publish(topic: Topic, msg: Message): void;
  /** Messages from other instances on `topic`; returns an unsubscribe function. */
  on(topic: Topic, handler: (msg: Message) => void): () => void;
  /** Called after a reconnect (messages may have been missed) and every poll interval. */
  onResync(handler: () => void): () => void;
  close(): Promise<void>;
}

/** One instance alone: nobody else to tell, nothing to hear. */
export class LocalBus implements ClusterBus {
  readonly shared = false;
  publish(): void {}
  on(): () => void {
    return () => {};
  }
  onResync(): () => void {
    return () => {};
  }
  async close(): Promise<void> {}
}
