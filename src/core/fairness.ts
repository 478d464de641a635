/**
 * Client fairness from recent usage, as an exponentially decaying sum.
 * A client at or below its fair share (1 / active clients) gets the full 10
 * points; above it, points fall linearly to 0 at 1.5 times the fair share.
 * (Falling only by 100% share was too gentle: a client at 1.24× its share
 * still got 9.7 points, and floods of unequal size kept shares proportional
 * to demand; measured by the scheduling simulator, bench/sched.)
 */
export interface Decaying {
  readonly value: number;
  readonly updatedAt: number;
}

/** Decay to `now`. Time going backwards decays nothing. */
export function decayTo(d: Decaying, now: number, halfLifeMs: number): Decaying {
  const dt = now - d.updatedAt;
  if (dt <= 0) return d;
  return { value: d.value * 0.5 ** (dt / halfLifeMs), updatedAt: now };
}

export function addUsage(d: Decaying, amount: number, now: number, halfLifeMs: number): Decaying {
  const s = decayTo(d, now, halfLifeMs);
  return { value: s.value + amount, updatedAt: s.updatedAt };
}

/** 0-10 points from a client's share of recent usage among `activeClients`. */
export function fairnessPoints(share: number, activeClients: number): number {
  if (activeClients <= 1) return 10;
  const fair = 1 / activeClients;
  if (share <= fair) return 10;
  return Math.max(0, 10 * (1 - (2 * (share - fair)) / fair));
}
