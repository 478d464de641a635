/** Small statistics for the scheduling simulator. */

/** Jain's fairness index: (Σx)² / (n·Σx²); 1 when all are equal, 1/n when one has everything. */
export function jain(xs: readonly number[]): number {
  const n = xs.length;
  const sum = xs.reduce((a, b) => a + b, 0);
  const sq = xs.reduce((a, b) => a + b * b, 0);
  return n === 0 || sq === 0 ? 1 : (sum * sum) / (n * sq);
}

/** Nearest-rank percentile of an ascending array (NaN when empty). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[i] as number;
}

/**
 * The largest ratio, over every interval [t1, t2] between two instants at
 * which units were taken, of the units taken in it to what a token bucket
 * may admit over it: capacity + refill × (t2 − t1). A bucket that keeps its
 * guarantee never exceeds 1. `taken`: (virtual ms, units) pairs, any order.
 */
export function worstWindowRatio(taken: readonly { t: number; units: number }[], capacity: number, refillPerS: number): { ratio: number; fromMs: number; toMs: number } {
  const byT = new Map<number, number>();
  for (const x of taken) byT.set(x.t, (byT.get(x.t) ?? 0) + x.units);
  const ts = [...byT.keys()].toSorted((a, b) => a - b);
  const units = ts.map((t) => byT.get(t) as number);
  let best = { ratio: 0, fromMs: 0, toMs: 0 };
  for (let i = 0; i < ts.length; i++) {
    let sum = 0;
    for (let j = i; j < ts.length; j++) {
      sum += units[j] as number;
      const allowed = capacity + (refillPerS * ((ts[j] as number) - (ts[i] as number))) / 1000;
      const r = sum / allowed;
      if (r > best.ratio) best = { ratio: r, fromMs: ts[i] as number, toMs: ts[j] as number };
    }
  }
  return best;
}
