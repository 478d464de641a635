/**
 * Each client's recent share of each contended resource, as decaying sums,
 * turned into fairness points (0-10) for the priority score. Shares are per
 * resource: heavy use of one model does not cost a client its place on another.
 */
import { addUsage, decayTo, fairnessPoints, type Decaying } from '../core/fairness.ts';

export class FairnessTracker {
  readonly #halfLifeMs: number;
  /** resource → client → decaying usage. */
  readonly #usage = new Map<string, Map<string, Decaying>>();

  /** @param halfLifeMs how fast past usage is forgotten. @default 1 minute */
  constructor(halfLifeMs: number) {
    this.#halfLifeMs = halfLifeMs;
  }

  record(clientId: string, resource: string, amount: number, now: number): void {
    let m = this.#usage.get(resource);
    if (!m) {
      m = new Map();
      this.#usage.set(resource, m);
    }
    const d = m.get(clientId) ?? { value: 0, updatedAt: now };
    m.set(clientId, addUsage(d, amount, now, this.#halfLifeMs));
  }

  /** Points for `clientId` on `resource` among `active` clients (those with queued or running work). */
  points(clientId: string, resource: string, active: Iterable<string>, now: number): number {
    const m = this.#usage.get(resource);
    if (!m) return 10;
    let total = 0;
    let n = 0;
    let mine = 0;
    for (const id of active) {
      n++;
      const d = m.get(id);
      const v = d ? decayTo(d, now, this.#halfLifeMs).value : 0;
      total += v;
      if (id === clientId) mine = v;
    }
    if (total <= 0) return 10;
    return fairnessPoints(mine / total, n);
  }
}
