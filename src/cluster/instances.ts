/**
 * The instances sharing one database, each saying it is alive
 * (`cluster_instances`, expiry on the database's clock). A request leased
 * by an instance that stopped saying so was lost with it: the scheduler
 * takes it back at once instead of waiting out the lease (which can be
 * minutes for a long task), without counting an attempt.
 */
import type { Pool } from 'pg';

const BEAT = `INSERT INTO cluster_instances (id, url, version, expires_at) VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond')
  ON CONFLICT (id) DO UPDATE SET url = EXCLUDED.url, seen_at = now(), expires_at = EXCLUDED.expires_at`;

export interface InstanceRow {
  readonly id: string;
  readonly url: string | null;
  readonly version: string | null;
  readonly startedAt: number;
  readonly seenAt: number;
  /** Whether its last heartbeat has not expired (database time). */
  readonly alive: boolean;
}

export class InstanceRegistry {
  readonly #pool: Pool;
  readonly #o: { id: string; version: string; ttlMs: number; intervalMs: number; onError: (err: unknown) => void };
  #url: string | null = null;
  #timer: NodeJS.Timeout | undefined;
  #beating: Promise<void> = Promise.resolve();

  constructor(pool: Pool, o: { id: string; version: string; ttlMs: number; intervalMs: number; onError: (err: unknown) => void }) {
    this.#pool = pool;
    this.#o = o;
  }

  /** Say this instance is alive now, and every interval from now on. */
  async start(url: string | null): Promise<void> {
    this.#url = url;
    await this.#beat();
    const loop = (): void => {
      this.#timer = setTimeout(() => {
        this.#beating = this.#beat().catch(this.#o.onError).finally(loop);
      }, this.#o.intervalMs).unref();
    };
    loop();
  }

  #beat(): Promise<void> {
    return this.#pool.query(BEAT, [this.#o.id, this.#url, this.#o.version, this.#o.ttlMs]).then(() => undefined);
  }

  /** Stop and remove this instance's row (its leases are then taken back at once by the leader). */
  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#beating;
    await this.#pool.query('DELETE FROM cluster_instances WHERE id = $1', [this.#o.id]);
  }

  async list(): Promise<InstanceRow[]> {
    const r = await this.#pool.query<{ id: string; url: string | null; version: string | null; started: string; seen: string; alive: boolean }>(
      `SELECT id, url, version, (extract(epoch FROM started_at) * 1000)::bigint AS started, (extract(epoch FROM seen_at) * 1000)::bigint AS seen,
        expires_at > now() AS alive FROM cluster_instances ORDER BY started_at, id`,
    );
    return r.rows.map((x) => ({ id: x.id, url: x.url, version: x.version, startedAt: Number(x.started), seenAt: Number(x.seen), alive: x.alive }));
  }

  /** Forget instances whose heartbeat expired long ago (an hour), so the table does not grow with every restart. */
  async prune(): Promise<number> {
    const r = await this.#pool.query("DELETE FROM cluster_instances WHERE expires_at < now() - interval '1 hour'");
    return r.rowCount ?? 0;
  }
}
