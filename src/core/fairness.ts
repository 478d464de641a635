/**
 * Client fairness from recent usage, as an exponentially decaying sum.
 * A client at or below its fair share (1 / active clients) gets the full 10
 * points; above it, points fall linearly to 0 at a 100% share.
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
  return Math.max(0, 10 * (1 - (share - fair) / (1 - fair)));
}
