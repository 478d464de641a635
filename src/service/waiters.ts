/**
 * Callers of POST /api/execute wait for their request to end. One listener
 * per terminal event serves all waiters through a map, instead of one
 * listener per waiter (which would make every completion O(waiters)).
 */
import type { Events } from '../events.ts';
import type { State } from '../core/states.ts';
import type { WorkRequest } from '../model.ts';

/** How a waiter looks at its request: the state alone, and the whole request. */
export interface Look {
  state(): Promise<State | null>;
  read(): Promise<WorkRequest | null>;
}

export class Waiters {
  readonly #waiting = new Map<string, Set<(r: WorkRequest) => void>>();

  constructor(events: Events) {
    const settle = (r: WorkRequest): void => {
      const set = this.#waiting.get(r.id);
      if (!set) return;
      this.#waiting.delete(r.id);
      for (const fn of set) fn(r);
    };
    events.on('request:completed', settle);
    events.on('request:failed', settle);
    events.on('request:cancelled', settle);
    // Ended on another instance (scale-out mode).
    events.on('request:changed', (r) => {
      if (r.state === 'COMPLETED' || r.state === 'FAILED' || r.state === 'CANCELLED') settle(r);
    });
  }

  /** Whether a caller waits for this request here. */
  has(id: string): boolean {
    return this.#waiting.has(id);
  }

  /** Resolves with the ended request, or null after `ms`. */
  wait(id: string, ms: number): Promise<WorkRequest | null> {
    return this.#register(id, ms).ended;
  }

  /**
   * Resolves with the ended request, or null after `ms`, looking once after
   * the waiter is in place: a request that ended before (its event came and
   * went while the caller was still being answered its submit, or on another
   * instance before this one listened) is seen at once instead of after
   * `ms`. Subscribe, then look: nothing ends unheard in between. The look
   * reads the state alone; the whole request only once it has ended.
   */
  async waitFor(id: string, ms: number, look: Look): Promise<WorkRequest | null> {
    const w = this.#register(id, ms);
    const state = await look.state();
    if (state === null || !TERMINAL.has(state)) return w.ended;
    const now = await look.read();
    if (now && TERMINAL.has(now.state)) {
      w.cancel();
      return now;
    }
    return w.ended;
  }

  #register(id: string, ms: number): { ended: Promise<WorkRequest | null>; cancel: () => void } {
    let set = this.#waiting.get(id);
    if (!set) {
      set = new Set();
      this.#waiting.set(id, set);
    }
    const s = set;
    let fn!: (r: WorkRequest) => void;
    let timer!: NodeJS.Timeout;
    const remove = (): void => {
      clearTimeout(timer);
      s.delete(fn);
      if (s.size === 0 && this.#waiting.get(id) === s) this.#waiting.delete(id);
    };
    const ended = new Promise<WorkRequest | null>((resolve) => {
      fn = (r) => {
        clearTimeout(timer);
        resolve(r);
      };
      timer = setTimeout(() => {
        remove();
        resolve(null);
      }, ms);
      s.add(fn);
    });
    return { ended, cancel: remove };
  }
}

const TERMINAL = new Set<State>(['COMPLETED', 'FAILED', 'CANCELLED']);
