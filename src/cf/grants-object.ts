/**
 * The live grants of the Durable Object limiter, one shard of them (grant
 * ids are spread over a few of these objects by hash), in the object's
 * SQLite storage: what each grant took, by pool key, and when it expires.
 * It makes take, settle and release idempotent by grant id across Allot
 * instances and restarts, as Redis's grant hashes do.
 *
 * A take is begun (a pending row: a second take of the same id waits for
 * it), then committed with what the buckets gave, or aborted. Ending a grant
 * (settle, release) removes its row and answers what it took, once. Expire
 * removes rows past their time and gives nothing back.
 *
 * POST { op, id?, ttlMs?, taken? } answers:
 *   begin  { state: 'begun' | 'pending' | 'live', taken? }
 *   commit { ok }      abort { ok }
 *   end    { state: 'ended' | 'pending' | 'none', taken? }
 *   expire { expired: [ids] }
 */
import { reply, type DurableState } from './durable.ts';

interface Call {
  readonly op: 'begin' | 'commit' | 'abort' | 'end' | 'expire';
  readonly id?: string;
  readonly ttlMs?: number;
  readonly taken?: Record<string, number>;
  readonly limit?: number;
}

const SCHEMA = `CREATE TABLE IF NOT EXISTS grants (
  id TEXT PRIMARY KEY,
  taken TEXT,            -- JSON { pool key: amount }, null while pending
  expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS grants_expiry ON grants (expires_at)`;

export class GrantsObject {
  readonly #ctx: DurableState;
  #high = -Infinity;
  #ready = false;

  constructor(ctx: DurableState) {
    this.#ctx = ctx;
  }

  #now(): number {
    this.#high = Math.max(this.#high, Date.now());
    return this.#high;
  }

  async fetch(request: Request): Promise<Response> {
    let c: Call;
    try {
      c = (await request.json()) as Call;
    } catch {
      return reply({ error: 'the body must be JSON' }, 400);
    }
    const sql = this.#ctx.storage.sql;
    if (!this.#ready) {
      for (const stmt of SCHEMA.split(';')) sql.exec(stmt);
      this.#ready = true;
    }
    const now = this.#now();
    if (c.op === 'expire') {
      const rows = sql.exec('DELETE FROM grants WHERE expires_at <= ? RETURNING id', now).toArray();
      return reply({ expired: rows.map((r) => r.id) });
    }
    if (typeof c.id !== 'string' || c.id === '') return reply({ error: 'id is required' }, 400);
    const row = sql.exec('SELECT taken, expires_at FROM grants WHERE id = ?', c.id).toArray()[0];
    const live = row !== undefined && (row.expires_at as number) > now;
    switch (c.op) {
      case 'begin': {
        if (live) return reply(row.taken === null ? { state: 'pending' } : { state: 'live', taken: JSON.parse(row.taken as string) });
        if (typeof c.ttlMs !== 'number' || !(c.ttlMs > 0)) return reply({ error: 'ttlMs must be > 0' }, 400);
        sql.exec('INSERT OR REPLACE INTO grants (id, taken, expires_at) VALUES (?, NULL, ?)', c.id, now + c.ttlMs);
        return reply({ state: 'begun' });
      }
      case 'commit': {
        const n = sql.exec('UPDATE grants SET taken = ? WHERE id = ? AND taken IS NULL', JSON.stringify(c.taken ?? {}), c.id).rowsWritten;
        return reply({ ok: n > 0 });
      }
      case 'abort': {
        const n = sql.exec('DELETE FROM grants WHERE id = ? AND taken IS NULL', c.id).rowsWritten;
        return reply({ ok: n > 0 });
      }
      case 'end': {
        if (!live) return reply({ state: 'none' });
        if (row.taken === null) return reply({ state: 'pending' });
        sql.exec('DELETE FROM grants WHERE id = ?', c.id);
        return reply({ state: 'ended', taken: JSON.parse(row.taken as string) });
      }
      default:
        return reply({ error: 'op must be begin, commit, abort, end or expire' }, 400);
    }
  }
}
