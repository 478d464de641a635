/**
 * Which system runs a new request while Allot and Orchestrator v2 run side
 * by side (SPEC section 9). Pure: a function of the request id and the
 * routing state, nothing else.
 *
 * - mode 'allot': every request runs in Allot; 'v2': every request goes to
 *   the legacy orchestrator; 'rollout': `rolloutPercent` of requests run in
 *   Allot, the rest in v2.
 * - The rollback switch overrides the mode: everything new goes to v2. It
 *   does not touch work already accepted (that is the caller's promise).
 *
 * A request's share is decided by a stable hash of its id (32-bit FNV-1a
 * of the id's UTF-16 code units, then a murmur3 finalizer so that the low
 * digits are as well mixed as the high ones) taken modulo 10,000: the same
 * id always lands in the same bucket, so raising the percentage only moves
 * requests from v2 to Allot, never back, and percentages have a resolution
 * of 0.01%.
 */
import type { ExecutingSystem } from '../model.ts';

export const MODES = Object.freeze(['allot', 'v2', 'rollout'] as const);
export type Mode = (typeof MODES)[number];

export interface RoutingState {
  readonly mode: Mode;
  /** Share of requests that run in Allot in mode 'rollout', 0-100 (two decimals count). */
  readonly rolloutPercent: number;
  /** Rollback: new work goes to v2 whatever the mode says. */
  readonly rollback: boolean;
}

/** Buckets per request: the percentage's resolution is 100 / BUCKETS percent. */
export const BUCKETS = 10_000;

/** 32-bit FNV-1a with a murmur3 fmix32 finalizer. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The request's bucket, 0 to BUCKETS - 1. */
export function bucketOf(requestId: string): number {
  return hash32(requestId) % BUCKETS;
}

export function routeFor(requestId: string, s: RoutingState): ExecutingSystem {
  if (s.rollback) return 'v2';
  if (s.mode === 'allot') return 'allot';
  if (s.mode === 'v2') return 'v2';
  return bucketOf(requestId) < Math.round(s.rolloutPercent * (BUCKETS / 100)) ? 'allot' : 'v2';
}

/**
 * Whether shadow mode copies this request, at `shadowPercent` of requests
 * (0-100, 0.01% steps). Its own hash (of the id with a suffix), independent
 * of the rollout's, so that the sample covers both systems' requests alike.
 */
export function shadowSampled(requestId: string, shadowPercent: number): boolean {
  return hash32(`${requestId}#shadow`) % BUCKETS < Math.round(shadowPercent * (BUCKETS / 100));
}
