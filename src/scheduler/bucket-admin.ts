/**
 * Operators' changes to resources' buckets: a new capacity, refill rate or
 * pools (after the Registry changed them), and setting a level by hand.
 * Each goes to the limiter, then leaves an audit row of kind 'resource'
 * (written here in both modes: the limiter keeps levels, not who changed
 * them), then wakes the loop (what was refused may fit now).
 */
import { AllotError } from '../core/errors.ts';
import type { Parts } from './parts.ts';
import type { SchedulerState } from './state.ts';

export class BucketAdmin {
  readonly #s: SchedulerState;
  readonly #p: Parts;

  constructor(s: SchedulerState, p: Parts) {
    this.#s = s;
    this.#p = p;
  }

  /**
   * Apply a resource's new pools (after Registry.setPools). Pools that keep
   * their name keep their level; units running requests took from a pool
   * that no longer exists come back by refill only.
   */
  async reconfigurePools(name: string): Promise<void> {
    const r = this.#s.d.registry.resources.get(name);
    await this.reconfigureResource(name, { action: 'pools', resource: name, pools: r?.pools ?? [] });
  }

  /**
   * An operator sets a resource's bucket level (default: full), e.g. to
   * clear the debt a worker's bad usage report left. Audited with the level before.
   */
  async resetBucket(name: string, level: number | undefined, actor: string): Promise<void> {
    if (!this.#s.d.registry.resources.has(name)) throw new AllotError('NOT_FOUND', `No resource "${name}"`);
    const now = this.#s.d.clock.now();
    const was = await this.#s.buckets.reset(name, level);
    if (was === null) throw new AllotError('NOT_FOUND', `No resource "${name}"`);
    await this.#audit(now, actor, { action: 'reset', resource: name, level: level ?? 'full', was });
    this.#p.loop.kick();
  }

  /** Apply a resource's new capacity, refill rate or pools (after the Registry changed it); `data` goes to the audit row. */
  async reconfigureResource(name: string, data: Record<string, unknown>): Promise<void> {
    if (!this.#s.d.registry.resources.has(name)) return;
    const now = this.#s.d.clock.now();
    // The whole set: pools that keep their key keep their level, and a resource gone is dropped.
    await this.#s.buckets.configure(this.#s.d.registry.resources.values());
    await this.#audit(now, 'admin', data);
    this.#p.loop.kick();
  }

  #audit(at: number, actor: string, data: Record<string, unknown>): Promise<void> {
    return this.#s.d.store.appendAudit({ at, requestId: null, clientId: null, kind: 'resource', from: null, to: null, actor, data });
  }
}
