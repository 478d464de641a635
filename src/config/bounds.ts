/**
 * Bounds on every duration, amount, count and depth a person or a client can
 * give (issue 9: a template timeout of 3e9 ms overflowed Node's timers and
 * failed every request in 4 ms; a budget of 1e308 showed as null). Each is
 * refused with a message naming the field: 400 from the API, a config error
 * naming the key at start.
 */
import { z } from 'zod';
import { DAY, HOUR, MINUTE } from '../core/clock.ts';

/** Node's timers take at most 2^31−1 ms (about 24.8 days); anything longer fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
/** A template's (or stage's) timeout, a retry delay, a downgrade wait. */
export const MAX_TASK_MS = 1 * DAY;
/** How long deferred work may wait, a result may be cached, v2 work may run. */
export const MAX_WAIT_MS = 30 * DAY;
/** Intervals of Allot's own loops (reaper, alerts, probes, polls). */
export const MAX_INTERVAL_MS = 1 * HOUR;
/**
 * Money is integer nano-USD in a JavaScript number: exact up to 2^53 nano-USD
 * (about $9.007M). A monthly budget is capped below that so spend, holds and
 * their sums stay exact.
 */
export const MAX_BUDGET_USD = 9_000_000;
/** Price of one unit of a resource (an LLM token costs well under a cent, an SMS about $0.01). */
export const MAX_UNIT_PRICE_USD = 1_000;
/** Capacities, refill rates and amounts of resources. */
export const MAX_UNITS = 1e12;
/** A template's max_tokens. */
export const MAX_TOKENS = 10_000_000;
/** Concurrency limits, queue depths. */
export const MAX_COUNT = 10_000_000;
/** Nesting of request inputs and parameters (JSON objects and arrays). */
export const DEFAULT_MAX_JSON_DEPTH = 64;
export const MAX_JSON_DEPTH = 1_000;
export const MAX_BYTES = 1024 ** 3;

/** A duration in ms: a positive integer up to `max`. */
export const durationMs = (max: number): z.ZodNumber => z.number().int().positive().max(max, `must be at most ${max} ms (${describe(max)})`);
/** Like durationMs, 0 allowed. */
export const durationMsOrZero = (max: number): z.ZodNumber => z.number().int().nonnegative().max(max, `must be at most ${max} ms (${describe(max)})`);
export const usd = (max: number): z.ZodNumber => z.number().nonnegative().max(max, `must be at most $${max.toLocaleString('en-US')}`);
export const units = (): z.ZodNumber => z.number().nonnegative().max(MAX_UNITS, `must be at most ${MAX_UNITS}`);
export const count = (max = MAX_COUNT): z.ZodNumber => z.number().int().positive().max(max, `must be at most ${max}`);

function describe(ms: number): string {
  if (ms >= DAY) return `${Math.round((ms / DAY) * 10) / 10} days`;
  if (ms >= HOUR) return `${Math.round((ms / HOUR) * 10) / 10} hours`;
  if (ms >= MINUTE) return `${Math.round(ms / MINUTE)} minutes`;
  return `${ms / 1000} s`;
}

/**
 * About how many characters of JSON `v` has (string lengths and keys summed,
 * nothing built), or -1 when it nests objects and arrays deeper than
 * `maxDepth`. One iterative walk for both questions admission asks of an
 * input; it stops at the first level too deep.
 */
export function jsonSize(v: unknown, maxDepth: number): number {
  let n = 0;
  const stack: [unknown, number][] = [[v, 0]];
  while (stack.length) {
    const [x, d] = stack.pop() as [unknown, number];
    if (typeof x === 'string') n += x.length + 2;
    else if (x !== null && typeof x === 'object') {
      if (d + 1 > maxDepth) return -1;
      if (Array.isArray(x)) for (const c of x) stack.push([c, d + 1]);
      else {
        for (const k in x) {
          n += k.length + 4;
          stack.push([(x as Record<string, unknown>)[k], d + 1]);
        }
      }
    } else n += 5;
  }
  return n;
}

/**
 * Whether `v` nests objects and arrays deeper than `max` (an object or array
 * at top level is depth 1). Iterative, and stops early: a body nested 100,000
 * deep costs what its first `max` levels cost, and cannot overflow the stack
 * (JSON.stringify and hashing of such a value would).
 */
export function nestedDeeperThan(v: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[v, 0]];
  while (stack.length) {
    const [x, d] = stack.pop() as [unknown, number];
    if (x === null || typeof x !== 'object') continue;
    if (d + 1 > max) return true;
    for (const c of Array.isArray(x) ? x : Object.values(x)) if (c !== null && typeof c === 'object') stack.push([c, d + 1]);
  }
  return false;
}
