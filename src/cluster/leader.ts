/**
 * Which instance schedules: an elected leader with a lease and a term, kept
 * in one PostgreSQL row (`cluster_leader`).
 *
 * Why a lease row and not an advisory lock: an advisory lock belongs to one
 * connection, and a leader whose connection is cut (a network partition, a
 * pooler) cannot tell that it lost the lock until its next query, while the
 * database may already have granted it to another instance. A lease has a
 * known end: the leader counts it down on its own monotonic clock from the
 * moment it *sent* the renewal, so it steps down before the database can
 * hand the lease to anyone else, whatever the wall clocks say. The database
 * decides expiry with its own clock (`now()`), the one clock every instance
 * shares. The term (+1 at every change of holder) tells stale leaders'
 * actions apart in logs and audit rows.
 *
 * Campaign and renewal are one statement: take the row when it is free or
 * expired, or extend it when we hold it. Stopping resigns (deletes the row),
 * so a clean shutdown hands over at the next campaign, not after the lease.
 */
import { EventEmitter } from 'node:events';
import type { Pool } from 'pg';

export interface LeaderOptions {
  /** This instance's id (the holder). */
  readonly id: string;
  /** How long a term lasts without renewal. */
  readonly leaseMs: number;
  /** How often to campaign (or renew while leader): at most half the lease. */
  readonly intervalMs: number;
  /** The lease's name: one leader per name. @default 'scheduler' */
  readonly name?: string;
  /** Monotonic ms. @default performance.now */
  readonly monotonic?: () => number;
}

export interface LeaderEvents {
  elected: [term: number];
  deposed: [reason: string];
  error: [err: unknown];
}

const CAMPAIGN = `INSERT INTO cluster_leader (name, holder, term, expires_at) VALUES ($1, $2, 1, now() + $3 * interval '1 millisecond')
  ON CONFLICT (name) DO UPDATE SET
    holder = EXCLUDED.holder,
    term = CASE WHEN cluster_leader.holder = EXCLUDED.holder THEN cluster_leader.term ELSE cluster_leader.term + 1 END,
    expires_at = EXCLUDED.expires_at
  WHERE cluster_leader.holder = EXCLUDED.holder OR cluster_leader.expires_at < now()
  RETURNING term`;
const RESIGN = 'DELETE FROM cluster_leader WHERE name = $1 AND holder = $2';

export class LeaderElection extends EventEmitter<LeaderEvents> {
  readonly #pool: Pool;
  readonly #o: Required<LeaderOptions>;
  #term: number | null = null;
  /** Monotonic time until which this instance may act as leader. */
  #until = 0;
  #timer: NodeJS.Timeout | undefined;
  #expiry: NodeJS.Timeout | undefined;
  #running = false;
  #campaigning: Promise<void> = Promise.resolve();

  constructor(pool: Pool, opts: LeaderOptions) {
    super();
    if (opts.intervalMs * 2 > opts.leaseMs) throw new RangeError('LeaderElection: intervalMs must be at most half of leaseMs');
    this.#pool = pool;
    this.#o = { name: 'scheduler', monotonic: () => performance.now(), ...opts };
  }

  /** Whether this instance holds the lease now (by its own monotonic clock). */
  get isLeader(): boolean {
    return this.#term !== null && this.#o.monotonic() < this.#until;
  }

  /** The term held, or null. */
  get term(): number | null {
    return this.isLeader ? this.#term : null;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#tick();
  }

  /** Stop campaigning and resign the lease if held. */
  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    clearTimeout(this.#expiry);
    await this.#campaigning;
    if (this.#term !== null) {
      this.#depose('stopped');
      await this.#pool.query(RESIGN, [this.#o.name, this.#o.id]).catch((err: unknown) => this.emit('error', err));
    }
  }

  #tick(): void {
    if (!this.#running) return;
    this.#campaigning = this.#campaign().finally(() => {
      if (this.#running) this.#timer = setTimeout(() => this.#tick(), this.#o.intervalMs).unref();
    });
  }

  async #campaign(): Promise<void> {
    const sent = this.#o.monotonic();
    let term: number | null = null;
    try {
      const r = await this.#pool.query<{ term: string }>(CAMPAIGN, [this.#o.name, this.#o.id, this.#o.leaseMs]);
      term = r.rows[0] ? Number(r.rows[0].term) : null;
    } catch (err) {
      // Not renewed: still leader until the lease counted from the last renewal runs out (the expiry timer).
      this.emit('error', err);
      return;
    }
    if (!this.#running) return;
    if (term === null) {
      if (this.#term !== null) this.#depose('another instance holds the lease');
      return;
    }
    const wasTerm = this.#term;
    if (wasTerm !== null && wasTerm !== term) this.#depose(`term changed from ${wasTerm} to ${term}`);
    this.#until = sent + this.#o.leaseMs;
    this.#armExpiry();
    if (this.#term !== term) {
      this.#term = term;
      this.emit('elected', term);
    }
  }

  /** Step down when the lease runs out unrenewed (timers may fire a little early: then wait the rest). */
  #armExpiry(): void {
    clearTimeout(this.#expiry);
    this.#expiry = setTimeout(() => {
      if (this.#term === null) return;
      if (this.#o.monotonic() >= this.#until) this.#depose('lease not renewed in time');
      else this.#armExpiry();
    }, Math.max(1, Math.ceil(this.#until - this.#o.monotonic()))).unref();
  }

  #depose(reason: string): void {
    if (this.#term === null) return;
    this.#term = null;
    this.#until = 0;
    clearTimeout(this.#expiry);
    this.emit('deposed', reason);
  }
}
