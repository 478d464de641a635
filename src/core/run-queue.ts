/**
 * The runnable set and how the best request is chosen from it.
 *
 * Requests are kept in one heap per (group, client), where a group is the
 * template and model a request runs on, so that:
 * - a group whose resources are exhausted is skipped as a whole, and other
 *   groups still run (no head-of-line blocking);
 * - a client at its concurrency limit is skipped as a whole;
 * - the fairness points, which change with a client's recent usage of the
 *   group's resource, are the
 *   same for every request in a heap and can be added when heap tops are
 *   compared, so each heap's order never changes after insertion.
 *
 * Within the scored class, priority = base (tier + urgency) + 20 × waited / T
 * (+ fairness). Because aging is linear and equal for all, ordering by
 * `base − 20 × enqueuedAt / T` is the same as ordering by the current score,
 * and needs no re-sorting as time passes.
 *
 * Starvation: a request that has waited at least T is served before any
 * scored request (oldest first). If its resources are not available, its
 * group is held for it: nothing else in that group is started, so capacity
 * accumulates until it fits. A starved request that cannot run for another
 * reason (its client is at its limit, or it is deferred and deferred work is
 * not allowed) does not hide the starved requests behind it: each group's
 * age index is walked in age order past such requests, but never past the
 * first request that has not waited T, so when nothing is starved a pick
 * looks at one item per group.
 *
 * Explicit `batch` requests rank below all scored ones; `deferred` ones run
 * only when the caller allows deferred work.
 */
import { Heap } from './heap.ts';

export type QueueClass = 0 | 1 | 2;

export interface QueuedItem {
  readonly id: string;
  readonly clientId: string;
  /** Requests of one group need the same worker and resources. */
  readonly group: string;
  /** 0 scored, 1 asked for batch, 2 asked for deferred. */
  readonly klass: QueueClass;
  /** Tier + urgency points. */
  readonly basePoints: number;
  /** When the request was accepted (ms); aging counts from here. */
  readonly enqueuedAt: number;
}

export type Eligibility = 'ok' | 'client' | 'group';

interface Entry {
  readonly item: QueuedItem;
  readonly key: number;
  readonly seq: number;
}

export interface PickOptions {
  readonly now: number;
  /** Fairness points (0-10) of a client now. */
  readonly fairness: (clientId: string, group: string) => number;
  /** Whether the item can start now; 'client' or 'group' skips all like it. */
  readonly eligible: (item: QueuedItem) => Eligibility;
  readonly allowDeferred: boolean;
}

const byKey = (a: Entry, b: Entry): boolean =>
  a.item.klass !== b.item.klass ? a.item.klass < b.item.klass : a.key !== b.key ? a.key > b.key : a.seq < b.seq;
const byAge = (a: Entry, b: Entry): boolean =>
  a.item.enqueuedAt !== b.item.enqueuedAt ? a.item.enqueuedAt < b.item.enqueuedAt : a.seq < b.seq;

export class RunQueue {
  readonly #starvationMs: number;
  readonly #heaps = new Map<string, { group: string; clientId: string; heap: Heap<Entry> }>();
  readonly #ageHeaps = new Map<string, Heap<Entry>>();
  /** id → entry for live items; lazily deleted from heaps. */
  readonly #live = new Map<string, Entry>();
  #seq = 0;
  #deferred = 0;

  /** @param starvationMs the starvation threshold T. @default 10 minutes */
  constructor(starvationMs: number) {
    this.#starvationMs = Math.max(1, starvationMs);
  }

  get size(): number {
    return this.#live.size;
  }

  /** Live items that are not deferred. */
  get nonDeferredSize(): number {
    return this.#live.size - this.#deferred;
  }

  has(id: string): boolean {
    return this.#live.has(id);
  }

  push(item: QueuedItem): void {
    if (this.#live.has(item.id)) return;
    const entry: Entry = { item, key: item.basePoints - (20 * item.enqueuedAt) / this.#starvationMs, seq: this.#seq++ };
    this.#live.set(item.id, entry);
    if (item.klass === 2) this.#deferred++;
    const hk = `${item.group}\u0000${item.clientId}`;
    let h = this.#heaps.get(hk);
    if (!h) {
      h = { group: item.group, clientId: item.clientId, heap: new Heap(byKey) };
      this.#heaps.set(hk, h);
    }
    h.heap.push(entry);
    let ah = this.#ageHeaps.get(item.group);
    if (!ah) {
      ah = new Heap(byAge);
      this.#ageHeaps.set(item.group, ah);
    }
    ah.push(entry);
  }

  remove(id: string): boolean {
    const e = this.#live.get(id);
    if (!e) return false;
    this.#live.delete(id);
    if (e.item.klass === 2) this.#deferred--;
    return true;
  }

  /** Choose, remove and return the best eligible item, or undefined. */
  pick(opts: PickOptions): QueuedItem | undefined {
    const blockedClients = new Set<string>();
    const blockedGroups = new Set<string>();

    // 1. Starved requests first, oldest first; hold their group if they do not fit.
    const starved = this.#pickStarved(opts, blockedClients, blockedGroups);
    if (starved) return starved;

    // 2. Best scored request among heap tops.
    const tops: { e: Entry; eff: number }[] = [];
    for (const [hk, h] of this.#heaps) {
      const top = this.#cleanTop(h.heap);
      if (!top) {
        this.#heaps.delete(hk);
        continue;
      }
      if (blockedGroups.has(h.group) || blockedClients.has(h.clientId)) continue;
      if (top.item.klass === 2 && !opts.allowDeferred) continue;
      tops.push({ e: top, eff: top.key + opts.fairness(h.clientId, h.group) });
    }
    tops.sort((a, b) =>
      a.e.item.klass !== b.e.item.klass ? a.e.item.klass - b.e.item.klass : b.eff !== a.eff ? b.eff - a.eff : a.e.seq - b.e.seq,
    );
    for (const { e } of tops) {
      if (blockedGroups.has(e.item.group) || blockedClients.has(e.item.clientId)) continue;
      const el = opts.eligible(e.item);
      if (el === 'ok') return this.#take(e);
      if (el === 'client') blockedClients.add(e.item.clientId);
      else blockedGroups.add(e.item.group);
    }
    return undefined;
  }

  /**
   * How many live items would be picked before `id` if everything were
   * eligible now (0 = next). O(n): for the position endpoint, not hot paths.
   */
  position(id: string, now: number, fairness: (clientId: string, group: string) => number): number | undefined {
    const me = this.#live.get(id);
    if (!me) return undefined;
    const starvedMe = now - me.item.enqueuedAt >= this.#starvationMs;
    const myEff = me.key + fairness(me.item.clientId, me.item.group);
    let ahead = 0;
    for (const e of this.#live.values()) {
      if (e === me) continue;
      const starved = now - e.item.enqueuedAt >= this.#starvationMs;
      if (starved !== starvedMe) {
        if (starved) ahead++;
        continue;
      }
      if (starved) {
        if (byAge(e, me)) ahead++;
        continue;
      }
      if (e.item.klass !== me.item.klass) {
        if (e.item.klass < me.item.klass) ahead++;
        continue;
      }
      const eff = e.key + fairness(e.item.clientId, e.item.group);
      if (eff > myEff || (eff === myEff && e.seq < me.seq)) ahead++;
    }
    return ahead;
  }

  /**
   * The oldest live item of each group that has waited at least `minWaitMs`
   * (deferred ones only when `allowDeferred`), oldest first. O(groups): the
   * scheduler uses it to decide which long-waiting request capacity is held for.
   */
  oldest(now: number, minWaitMs: number, allowDeferred: boolean): QueuedItem[] {
    const out: Entry[] = [];
    for (const ah of this.#ageHeaps.values()) {
      const top = this.#cleanTop(ah);
      if (top && now - top.item.enqueuedAt >= minWaitMs && (top.item.klass !== 2 || allowDeferred)) out.push(top);
    }
    return out.toSorted((a, b) => (byAge(a, b) ? -1 : 1)).map((e) => e.item);
  }

  /** Live items, for status views. */
  items(): IterableIterator<QueuedItem> {
    const it = this.#live.values();
    return (function* () {
      for (const e of it) yield e.item;
    })();
  }

  /**
   * Step 1 of `pick`: a merge, oldest first, of each group's starved
   * candidates. A group's candidate is the oldest item of its age heap that is
   * starved, live, allowed (not deferred unless deferred work is allowed) and
   * not of a blocked client; it is always that heap's top, because the items
   * walked past are popped and pushed back when the pick ends. An item
   * refused for its client blocks the client and the walk goes on in its
   * group; one refused for its group holds the group, and the walk there stops.
   */
  #pickStarved(opts: PickOptions, blockedClients: Set<string>, blockedGroups: Set<string>): QueuedItem | undefined {
    // Items popped while walking, to push back (they stay queued).
    const walked: { ah: Heap<Entry>; e: Entry }[] = [];
    const candidate = (ah: Heap<Entry>): Entry | undefined => {
      for (let top = this.#cleanTop(ah); top; top = this.#cleanTop(ah)) {
        if (opts.now - top.item.enqueuedAt < this.#starvationMs) return undefined;
        if ((top.item.klass !== 2 || opts.allowDeferred) && !blockedClients.has(top.item.clientId)) return top;
        ah.pop();
        walked.push({ ah, e: top });
      }
      return undefined;
    };

    const frontier = new Heap<{ ah: Heap<Entry>; e: Entry }>((a, b) => byAge(a.e, b.e));
    for (const [group, ah] of this.#ageHeaps) {
      if (!this.#cleanTop(ah)) {
        this.#ageHeaps.delete(group);
        continue;
      }
      const e = candidate(ah);
      if (e) frontier.push({ ah, e });
    }
    try {
      for (let next = frontier.pop(); next; next = frontier.pop()) {
        const { ah, e } = next;
        // The client may have been blocked since `e` became its group's candidate.
        if (!blockedClients.has(e.item.clientId)) {
          const el = opts.eligible(e.item);
          if (el === 'ok') return this.#take(e);
          if (el === 'group') {
            // A starved request that does not fit keeps its group held for it.
            blockedGroups.add(e.item.group);
            continue;
          }
          blockedClients.add(e.item.clientId);
        }
        ah.pop();
        walked.push({ ah, e });
        const after = candidate(ah);
        if (after) frontier.push({ ah, e: after });
      }
      return undefined;
    } finally {
      for (const { ah, e } of walked) ah.push(e);
    }
  }

  #take(e: Entry): QueuedItem {
    this.remove(e.item.id);
    return e.item;
  }

  #cleanTop(h: Heap<Entry>): Entry | undefined {
    for (;;) {
      const top = h.peek();
      if (!top) return undefined;
      if (this.#live.get(top.item.id) === top) return top;
      h.pop();
    }
  }
}
