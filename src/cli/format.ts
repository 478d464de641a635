/** Plain-text output for the operator commands: tables, times, money, durations. */

/** Columns padded to their widest cell; a header line, then one line a row. */
export function table(headers: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const cells = rows.map((r) => r.map(cell));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]?.length ?? 0)));
  const line = (r: readonly string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return `${[line(headers), ...cells.map(line)].join('\n')}\n`;
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** `$1.23`, or `$0.000123` for sums under a cent. */
export function usd(v: unknown): string {
  if (typeof v !== 'number') return '-';
  return v !== 0 && Math.abs(v) < 0.01 ? `$${v.toPrecision(3)}` : `$${v.toFixed(2)}`;
}

/** 950 ms, 12 s, 4 min, 3 h 20 min, 2 d. */
export function duration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  const s = ms / 1_000;
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3_600) return `${Math.round(s / 60)} min`;
  if (s < 86_400) return `${Math.floor(s / 3_600)} h ${Math.round((s % 3_600) / 60)} min`;
  return `${Math.round(s / 86_400)} d`;
}

/** An ISO time as "how long ago" beside the time itself, from `now`. */
export function ago(iso: unknown, now: number): string {
  if (typeof iso !== 'string') return '-';
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : `${duration(Math.max(0, now - t))} ago`;
}

/**
 * A duration given on the command line: `90` (seconds), `90s`, `15m`, `12h`,
 * `30d`; in seconds. Anything else is refused by the caller with the value.
 */
export function parseDuration(v: string): number | null {
  const m = /^(\d+)\s*(s|m|h|d)?$/.exec(v.trim());
  if (!m) return null;
  const n = Number(m[1]);
  const mult = { s: 1, m: 60, h: 3_600, d: 86_400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
  return n > 0 ? n * mult : null;
}

export function json(v: unknown): string {
  return `${JSON.stringify(v, null, 2)}\n`;
}
