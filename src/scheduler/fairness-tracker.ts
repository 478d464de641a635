/**
 * Each client's recent share of admitted work, as decaying sums, turned into
 * fairness points (0-10) for the priority score.
 */
import { addUsage, decayTo, fairnessPoints, type Decaying } from '../core/fairness.ts';

export class FairnessTracker {
  readonly #halfLifeMs: number;
  readonly #usage = new Map<string, Decaying>();

  /** @param halfLifeMs how fast past usage is forgotten. @default 1 minute */
  constructor(halfLifeMs: number) {
    this.#halfLifeMs = halfLifeMs;
  }

  record(clientId: string, amount: number, now: number): void {
    const d = this.#usage.get(clientId) ?? { value: 0, updatedAt: now };
    this.#usage.set(clientId, addUsage(d, amount, now, this.#halfLifeMs));
  }

  /** Points for `clientId` among `active` clients (those with queued or running work). */
  points(clientId: string, active: Iterable<string>, now: number): number {
    let total = 0;
    let n = 0;
    let mine = 0;
    for (const id of active) {
      n++;
      const d = this.#usage.get(id);
      const v = d ? decayTo(d, now, this.#halfLifeMs).value : 0;
      total += v;
      if (id === clientId) mine = v;
    }
    if (total <= 0) return 10;
    return fairnessPoints(mine / total, n);
  }
}
