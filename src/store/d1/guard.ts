/**
 * Statements that apply only if another in the same batch did: D1 runs a
 * batch as one transaction but cannot branch, so the rows written with a
 * change (audit, budget, savings) carry its condition.
 */

/** `INSERT INTO t (cols) VALUES (?, …)` as `INSERT INTO t (cols) SELECT ?, … WHERE <cond>`, the same parameters first. */
export function insertWhere(insert: string, cond: string): string {
  const m = /^([\s\S]*?)\bVALUES\s*\(([\s\S]*)\)\s*$/.exec(insert);
  if (!m) throw new Error(`insertWhere: not an INSERT … VALUES (…): ${insert.slice(0, 80)}`);
  return `${m[1]}SELECT ${m[2]} WHERE ${cond}`;
}

/**
 * The condition that request `?` is at row version `?`. Every write to a
 * request on D1 sets `rev` to a new random version (newRev), not the next
 * number: two writers that read the same version and race would both
 * compute the same next number, and the loser's guarded rows would pass.
 */
export const AT_REV = 'EXISTS (SELECT 1 FROM requests WHERE id = ? AND rev = ?)';

/** A fresh row version: random, 53 bits. */
export function newRev(): number {
  const [hi, lo] = crypto.getRandomValues(new Uint32Array(2)) as unknown as [number, number];
  return (hi & 0x1fffff) * 0x1_0000_0000 + lo + 1;
}

/** A request UPDATE of the SQLite store's that also sets a new version (its value is the first parameter). */
export function withRev(update: string): string {
  if (!update.startsWith('UPDATE requests SET ')) throw new Error(`withRev: not an UPDATE of requests: ${update.slice(0, 60)}`);
  return `UPDATE requests SET rev = ?, ${update.slice('UPDATE requests SET '.length)}`;
}
/** The condition that request `?` exists (a new request: it exists only if this batch inserted it). */
export const EXISTS = 'EXISTS (SELECT 1 FROM requests WHERE id = ?)';
