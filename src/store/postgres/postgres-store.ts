/**
 * The scale-out store: PostgreSQL through a pg connection pool, shared by
 * several Allot processes.
 *
 * Every operation is one transaction that commits before its promise
 * resolves, so `durable()` has nothing to wait for but operations still in
 * flight. Correctness with several processes comes from the database, never
 * from this process's memory: transitions lock the request row and check the
 * fencing token (transition.ts), admission holds budget in one conditional
 * UPDATE and relies on unique indexes for idempotency (intake.ts), the
 * reaper skips rows others hold (reaper.ts), and counts are queried.
 *
 * Within one store, operations are applied one at a time, in the order they
 * were issued, as on SQLite: two writes issued together take effect (and get
 * audit seqs) in issue order, and a refused one changes nothing else. Other
 * instances' operations run in parallel with them. Read-only lookups go to
 * the pool directly and see what is committed.
 */
import { Pool, TypeOverrides, escapeIdentifier, type PoolClient } from 'pg';
import { AllotError } from '../../core/errors.ts';
import { isUnavailable, unavailable } from './unavailable.ts';
import { isStalePlan, prepared } from './prepared.ts';
import type { State } from '../../core/states.ts';
import type { AlertCondition, AlertRecord } from '../../core/alert-state.ts';
import type { AdminKeyInfo, AuditEntry, Client, KeyInfo, KeyOwner, Overuse, PipelineState, Progress, RequestError, TemplateDef, WorkRequest, WorkerDef } from '../../model.ts';
import type {
  AuditFilter, BudgetRow, ClaimOptions, CompleteOptions, CachedResult, EnqueueInput, EnqueueResult, ExternalUpdate, MigrationResult, ReapOptions, RequestFilter, Saving, SavingsRow,
  Settlement, ShadowResult, ShadowSummary, Store, StoreCapabilities, StoredRef, SystemCounts, UsageRow,
} from '../store.ts';
import { COMPRESS_MIN_BYTES } from '../sqlite/rows.ts';
import type { PgCtx } from './context.ts';
import { migratePg } from './migrate.ts';
import * as alerts from './alerts.ts';
import * as audit from './audit.ts';
import * as budgets from './budgets.ts';
import * as cache from './cache.ts';
import * as clients from './clients.ts';
import * as apiKeys from './keys.ts';
import * as defs from './definitions.ts';
import * as external from './external.ts';
import * as intake from './intake.ts';
import * as intakeMany from './intake-many.ts';
import * as lifecycle from './lifecycle.ts';
import * as many from './lifecycle-many.ts';
import * as reaper from './reaper.ts';
import * as refs from './refs.ts';
import * as savings from './savings.ts';
import * as settings from './settings.ts';
import * as shadow from './shadow.ts';
import * as views from './views.ts';

export interface PostgresStoreOptions {
  /** postgres:// connection URL. */
  readonly url: string;
  /**
   * Schema holding Allot's tables: created by migrate() if missing, and the
   * search_path of every connection. @default the server's search_path (public)
   */
  readonly schema?: string | undefined;
  /** Connections in the pool. @default 10 */
  readonly poolSize?: number | undefined;
  /** Payloads from this many bytes are stored zstd-compressed; 0 turns compression off. @default COMPRESS_MIN_BYTES (4 KiB) */
  readonly compressMinBytes?: number | undefined;
  /** Shown in pg_stat_activity. @default 'allot' */
  readonly applicationName?: string | undefined;
}

/** A schema name used unquoted in connection options: letters, digits and underscores. */
const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * BIGINT (times, nano-dollars, counts) and NUMERIC (their sums) as JS
 * numbers, as node:sqlite returns them: every such value here is an integer
 * well inside 2^53. Set on this pool only, not on pg's global parsers.
 */
const TYPES = new TypeOverrides();
TYPES.setTypeParser(20, Number);
TYPES.setTypeParser(1700, Number);

/** Errors after which the transaction rolled back and running it again is safe: serialization failure, deadlock. */
const TRANSIENT = new Set(['40001', '40P01']);
const MAX_TRIES = 5;

export class PostgresStore implements Store {
  readonly capabilities: StoreCapabilities = Object.freeze({ multiProcess: true, durableCommits: true });
  readonly #pool: Pool;
  readonly #schema: string | null;
  readonly #compressMin: number;
  /** Read-only lookups: one statement each, on any pooled connection. */
  readonly #read: PgCtx;
  /** Settles when every operation issued so far has; operations chain onto it (one at a time, in issue order). */
  /** The last barrier operation (one without keys): everything after it waits for it. */
  #barrier: Promise<unknown> = Promise.resolve();
  /** Keyed operations issued since the last barrier, settled or not (a barrier waits for them). */
  readonly #since = new Set<Promise<unknown>>();
  /** The last operation issued on each key: the next one on that key waits for it. */
  readonly #lanes = new Map<string, Promise<unknown>>();
  #closed: Promise<void> | null = null;

  constructor(opts: PostgresStoreOptions) {
    if (opts.schema !== undefined && !SCHEMA_NAME.test(opts.schema)) {
      throw new AllotError('CONFIG_ERROR', `database schema "${opts.schema}" must be letters, digits and underscores (at most 63)`);
    }
    this.#schema = opts.schema ?? null;
    this.#compressMin = opts.compressMinBytes ?? COMPRESS_MIN_BYTES;
    this.#pool = new Pool({
      connectionString: opts.url,
      max: opts.poolSize ?? 10,
      // An unreachable server fails the operation (admission fails closed) instead of hanging it.
      connectionTimeoutMillis: 10_000,
      application_name: opts.applicationName ?? 'allot',
      types: TYPES,
      ...(this.#schema !== null ? { options: `-c search_path=${escapeIdentifier(this.#schema)}` } : {}),
    });
    // An idle connection that drops (server restart) is discarded by the pool; the next operation opens another.
    this.#pool.on('error', () => {});
    const pool = this.#pool;
    this.#read = {
      compressMin: this.#compressMin,
      q: async (sql, params) => {
        for (let tries = 1; ; tries++) {
          let held: Held | undefined;
          try {
            held = await checkout(pool);
            const rows = (await held.client.query(prepared(sql, params))).rows;
            held.release();
            return rows;
          } catch (err) {
            // A connection whose prepared statement the schema outdated is dropped with it; another reads.
            const stale = isStalePlan(err);
            held?.release(stale || isUnavailable(err) ? true : undefined);
            if (stale && tries < MAX_TRIES) continue;
            throw unavailable(err);
          }
        }
      },
    };
  }

  async migrate(): Promise<MigrationResult[]> {
    const { client, release } = await checkout(this.#pool);
    try {
      const results = await migratePg(client, this.#schema);
      release();
      return results;
    } catch (err) {
      release(true);
      throw err;
    }
  }

  /** Operations commit before they resolve: this waits only for those still in flight. */
  async durable(): Promise<void> {
    await Promise.allSettled([this.#barrier, ...this.#since]);
  }

  /** Waits for operations in flight, then closes the pool. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= this.durable().then(() => this.#pool.end());
    return this.#closed;
  }

  /**
   * Runs `fn` as one operation: one transaction on one connection, committed
   * before the result is returned. Order: an operation runs after every
   * operation issued before it that shares one of its `keys` (a request id,
   * a client's budget), and after the last operation issued without keys (a
   * barrier, which itself waits for everything issued before it). So the
   * steps of one request, and one client's admissions, apply in the order
   * issued, as they do in SQLite, while other requests' writes run side by
   * side on the pool (a large input's insert does not hold up a small one).
   * A deadlock or serialization failure (rolled back by the server) is tried
   * again; any other error rolls back and is thrown.
   *
   * `single`: `fn` writes with one statement at most (a transition: a read,
   * then one self-committing write; see transition.ts), so it runs without
   * BEGIN and COMMIT, two round trips fewer.
   */
  #op<T>(fn: (c: PgCtx) => Promise<T>, keys?: readonly string[], single = false): Promise<T> {
    if (this.#closed) return Promise.reject(new AllotError('INTERNAL_ERROR', 'The PostgreSQL store is closed'));
    if (keys === undefined) {
      const run = Promise.allSettled([this.#barrier, ...this.#since]).then(() => this.#transaction(fn, single));
      this.#barrier = run.catch(() => undefined);
      this.#since.clear();
      this.#lanes.clear();
      return run;
    }
    const before = [this.#barrier];
    for (const k of keys) {
      const prior = this.#lanes.get(k);
      if (prior) before.push(prior);
    }
    const run = Promise.allSettled(before).then(() => this.#transaction(fn, single));
    const settled = run.catch(() => undefined);
    this.#since.add(settled);
    for (const k of keys) this.#lanes.set(k, settled);
    void settled.then(() => {
      this.#since.delete(settled);
      for (const k of keys) if (this.#lanes.get(k) === settled) this.#lanes.delete(k);
    });
    return run;
  }

  async #transaction<T>(fn: (c: PgCtx) => Promise<T>, single: boolean): Promise<T> {
    try {
      return await this.#attempts(fn, single);
    } catch (err) {
      throw unavailable(err);
    }
  }

  async #attempts<T>(fn: (c: PgCtx) => Promise<T>, single: boolean): Promise<T> {
    for (let tries = 1; ; tries++) {
      const { client, release } = await checkout(this.#pool);
      const c: PgCtx = { compressMin: this.#compressMin, q: async (sql, params) => (await client.query(prepared(sql, params))).rows };
      try {
        if (!single) await client.query('BEGIN');
        const result = await fn(c);
        if (!single) await client.query('COMMIT');
        release();
        return result;
      } catch (err) {
        // A connection that cannot even roll back is broken: the pool drops it instead of reusing it.
        const rolledBack = await client.query(single ? 'SELECT 1' : 'ROLLBACK').then(() => true, () => false);
        // Its prepared statements outdated by a schema change: the connection goes, with them.
        const stale = isStalePlan(err);
        release(rolledBack && !stale ? undefined : true);
        if (tries < MAX_TRIES && (stale || TRANSIENT.has((err as { code?: string }).code ?? ''))) continue;
        throw err;
      }
    }
  }

  // ---- settings -----------------------------------------------------------

  getSetting(key: string): Promise<string | null> {
    return settings.getSetting(this.#read, key);
  }
  setSettingIfAbsent(key: string, value: string): Promise<string> {
    return this.#op((c) => settings.setSettingIfAbsent(c, key, value));
  }
  putSetting(key: string, value: string | null, actor: string): Promise<void> {
    return this.#op((c) => settings.putSetting(c, key, value, actor));
  }

  // ---- clients ------------------------------------------------------------

  createClient(client: Client, keyHash: string, keyPrefix: string, actor: string): Promise<void> {
    return this.#op((c) => clients.createClient(c, client, keyHash, keyPrefix, actor));
  }
  getClient(id: string): Promise<Client | null> {
    return clients.getClient(this.#read, id);
  }
  listClients(): Promise<Client[]> {
    return clients.listClients(this.#read);
  }
  updateClient(client: Client, actor: string): Promise<void> {
    return this.#op((c) => clients.updateClient(c, client, actor));
  }
  deleteClient(id: string, actor: string): Promise<boolean> {
    return this.#op((c) => clients.deleteClient(c, id, actor));
  }
  addClientKey(clientId: string, keyHash: string, keyPrefix: string, actor: string, expiresAt: number | null = null): Promise<void> {
    return this.#op((c) => apiKeys.addClientKey(c, clientId, keyHash, keyPrefix, actor, expiresAt));
  }
  listClientKeys(clientId: string): Promise<KeyInfo[]> {
    return apiKeys.listClientKeys(this.#read, clientId);
  }
  revokeClientKey(clientId: string, keyId: string, actor: string): Promise<boolean> {
    return this.#op((c) => apiKeys.revokeClientKey(c, clientId, keyId, actor));
  }
  keyByHash(hash: string): Promise<KeyOwner | null> {
    return apiKeys.keyByHash(this.#read, hash);
  }
  createAdminKey(key: AdminKeyInfo & { readonly hash: string }, actor: string): Promise<void> {
    return this.#op((c) => apiKeys.createAdminKey(c, key, actor));
  }
  listAdminKeys(): Promise<AdminKeyInfo[]> {
    return apiKeys.listAdminKeys(this.#read);
  }
  revokeAdminKey(keyId: string, actor: string): Promise<boolean> {
    return this.#op((c) => apiKeys.revokeAdminKey(c, keyId, actor));
  }
  /** In a lane of its own: a last-used time waits for no request's write, and none waits for it. */
  markKeysUsed(keyIds: readonly string[], at: number): Promise<void> {
    return this.#op((c) => apiKeys.markKeysUsed(c, keyIds, at), ['key-use']);
  }

  // ---- workers and templates ------------------------------------------------

  putWorker(w: WorkerDef, actor: string): Promise<void> {
    return this.#op((c) => defs.putDefinition(c, 'workers', w.name, w, actor, 'worker:put', { transport: w.transport }));
  }
  getWorker(name: string): Promise<WorkerDef | null> {
    return defs.getDefinition<WorkerDef>(this.#read, 'workers', name);
  }
  listWorkers(): Promise<WorkerDef[]> {
    return defs.listDefinitions<WorkerDef>(this.#read, 'workers');
  }
  deleteWorker(name: string, actor: string): Promise<boolean> {
    return this.#op((c) => defs.deleteDefinition(c, 'workers', name, actor, 'worker:delete'));
  }
  putTemplate(t: TemplateDef, actor: string): Promise<void> {
    return this.#op((c) => defs.putDefinition(c, 'templates', t.name, t, actor, 'template:put', { worker: t.worker }));
  }
  getTemplate(name: string): Promise<TemplateDef | null> {
    return defs.getDefinition<TemplateDef>(this.#read, 'templates', name);
  }
  listTemplates(): Promise<TemplateDef[]> {
    return defs.listDefinitions<TemplateDef>(this.#read, 'templates');
  }
  deleteTemplate(name: string, actor: string): Promise<boolean> {
    return this.#op((c) => defs.deleteDefinition(c, 'templates', name, actor, 'template:delete'));
  }

  // ---- budgets ------------------------------------------------------------------
  // (Token-bucket levels live in Redis, src/limiter/redis/: the schema's `buckets` table is no longer used.)

  getBudget(clientId: string, period: string): Promise<BudgetRow> {
    return budgets.getBudget(this.#read, clientId, period);
  }
  listBudgets(clientId: string): Promise<BudgetRow[]> {
    return budgets.listBudgets(this.#read, clientId);
  }

  // ---- requests ---------------------------------------------------------------

  enqueue(input: EnqueueInput): Promise<EnqueueResult> {
    return this.#op((c) => intake.enqueue(c, input), [`client:${input.request.clientId}`], true);
  }
  enqueueMany(inputs: readonly EnqueueInput[]): Promise<(EnqueueResult | AllotError)[]> {
    return this.#op((c) => intakeMany.enqueueMany(c, inputs), [...new Set(inputs.map((x) => `client:${x.request.clientId}`))], true);
  }
  importRequest(q: WorkRequest, actor: string): Promise<EnqueueResult> {
    return this.#op((c) => intake.importRequest(c, q, actor), [`client:${q.clientId}`]);
  }
  getRequest(id: string): Promise<WorkRequest | null> {
    return views.getRequest(this.#read, id);
  }

  getRequestState(id: string): Promise<State | null> {
    return views.getRequestState(this.#read, id);
  }
  findByIdempotencyKey(clientId: string, key: string): Promise<WorkRequest | null> {
    return views.findByIdempotencyKey(this.#read, clientId, key);
  }
  findByExternalId(externalId: string): Promise<WorkRequest | null> {
    return views.findByExternalId(this.#read, externalId);
  }
  listRequests(filter: RequestFilter): Promise<WorkRequest[]> {
    return views.listRequests(this.#read, filter);
  }
  loadQueued(): Promise<WorkRequest[]> {
    return views.loadQueued(this.#read);
  }
  countByState(): Promise<Record<State, number>> {
    return views.countByState(this.#read);
  }
  usageByTemplate(clientId: string, period: string | null): Promise<UsageRow[]> {
    return views.usageByTemplate(this.#read, clientId, period);
  }
  listOveruse(since: number, limit = 1000): Promise<{ requestId: string; clientId: string; overuse: Overuse }[]> {
    return views.listOveruse(this.#read, since, limit);
  }
  countBySystem(): Promise<SystemCounts> {
    return views.countBySystem(this.#read);
  }
  costOverTime(since: number, bucketMs: number): Promise<{ at: number; costNano: number; requests: number }[]> {
    return views.costOverTime(this.#read, since, bucketMs);
  }

  // ---- lifecycle ----------------------------------------------------------------

  claim(id: string, o: ClaimOptions): Promise<WorkRequest | null> {
    // Claims also keep to the order they were issued in: the order the scheduler picked (priority) is the order they commit.
    return this.#op((c) => lifecycle.claim(c, id, o), [`req:${id}`, 'claims'], true);
  }
  claimMany(items: readonly { readonly id: string; readonly opts: ClaimOptions }[]): Promise<(WorkRequest | null)[]> {
    return this.#op((c) => many.claimMany(c, items), [...items.map((x) => `req:${x.id}`), 'claims'], true);
  }
  start(id: string, token: number, o: { now: number; deadlineAt: number; leaseExpiresAt: number }): Promise<WorkRequest | null> {
    return this.#op((c) => lifecycle.start(c, id, token, o), [`req:${id}`], true);
  }
  unclaim(id: string, token: number, o: { now: number; reason: string }): Promise<WorkRequest | null> {
    return this.#op((c) => lifecycle.unclaim(c, id, token, o), [`req:${id}`], true);
  }
  extendLease(id: string, token: number, until: number): Promise<boolean> {
    return this.#op((c) => lifecycle.extendLease(c, id, token, until), [`req:${id}`], true);
  }

  setProgress(id: string, token: number, p: Progress): Promise<boolean> {
    return this.#op((c) => lifecycle.setProgress(c, id, token, p), [`req:${id}`], true);
  }
  complete(id: string, token: number, o: CompleteOptions): Promise<WorkRequest | null> {
    return this.#op((c) => lifecycle.complete(c, id, token, o), [`req:${id}`], true);
  }
  completeMany(items: readonly { readonly id: string; readonly token: number; readonly opts: CompleteOptions }[]): Promise<(WorkRequest | null)[]> {
    return this.#op((c) => many.completeMany(c, items), items.map((x) => `req:${x.id}`), true);
  }
  retryLater(id: string, token: number, o: { now: number; runAt: number; error: RequestError | null; settlement: Settlement }): Promise<WorkRequest | null> {
    return this.#op((c) => lifecycle.retryLater(c, id, token, o), [`req:${id}`], true);
  }
  fail(id: string, token: number, o: { now: number; error: RequestError | null; settlement: Settlement }): Promise<WorkRequest | null> {
    return this.#op((c) => lifecycle.fail(c, id, token, o), [`req:${id}`], true);
  }
  promote(id: string, now: number): Promise<WorkRequest | null> {
    return this.#op((c) => lifecycle.promote(c, id, now), [`req:${id}`], true);
  }
  cancel(id: string, o: { now: number; actor: string; returned: Readonly<Record<string, number>> }): Promise<WorkRequest | null> {
    return this.#op((c) => lifecycle.cancel(c, id, o), [`req:${id}`], true);
  }
  setPipeline(id: string, token: number, o: { now: number; pipeline: PipelineState; progress?: Progress; ended?: Record<string, unknown> }): Promise<boolean> {
    return this.#op((c) => lifecycle.setPipeline(c, id, token, o), [`req:${id}`]);
  }
  reapExpiredLeases(now: number, opts?: ReapOptions): Promise<WorkRequest[]> {
    return this.#op((c) => reaper.reapExpiredLeases(c, now, opts));
  }
  updateExternal(id: string, u: ExternalUpdate): Promise<WorkRequest | null> {
    return this.#op((c) => external.updateExternal(c, id, u), [`req:${id}`]);
  }

  // ---- shadow mode ----------------------------------------------------------------

  beginShadow(requestId: string, at: number): Promise<void> {
    return this.#op((c) => shadow.beginShadow(c, requestId, at));
  }
  pendingShadows(): Promise<string[]> {
    return shadow.pendingShadows(this.#read);
  }
  dropShadow(requestId: string): Promise<void> {
    return this.#op((c) => shadow.dropShadow(c, requestId));
  }
  findShadowCopy(primaryId: string): Promise<WorkRequest | null> {
    return views.findShadowCopy(this.#read, primaryId);
  }
  recordShadow(r: ShadowResult): Promise<void> {
    return this.#op((c) => shadow.recordShadow(c, r));
  }
  listShadow(f: { readonly limit?: number; readonly afterSeq?: number; readonly differencesOnly?: boolean }): Promise<ShadowResult[]> {
    return shadow.listShadow(this.#read, f);
  }
  shadowSummary(): Promise<ShadowSummary> {
    return shadow.shadowSummary(this.#read);
  }

  // ---- result cache and references ----------------------------------------------------

  lookupCache(key: string, now: number): Promise<CachedResult | null> {
    return cache.lookupCache(this.#read, key, now);
  }
  storeCache(entry: CachedResult): Promise<void> {
    return this.#op((c) => cache.storeCache(c, entry), [`cache:${entry.key}`]);
  }
  purgeCache(template: string, now: number, actor: string): Promise<number> {
    return this.#op((c) => cache.purgeCache(c, template, now, actor));
  }
  putRef(ref: StoredRef): Promise<void> {
    return this.#op((c) => refs.putRef(c, ref), [`ref:${ref.refId}`]);
  }
  getRef(refId: string, now: number): Promise<StoredRef | null> {
    return refs.getRef(this.#read, refId, now);
  }
  sweepRefs(now: number): Promise<number> {
    return this.#op((c) => refs.sweepRefs(c, now));
  }

  // ---- alerts -------------------------------------------------------------------------

  openAlerts(): Promise<AlertRecord[]> {
    return alerts.openAlerts(this.#read);
  }
  fireAlert(a: AlertCondition, at: number): Promise<AlertRecord> {
    return this.#op((c) => alerts.fireAlert(c, a, at));
  }
  updateAlert(id: number, a: AlertCondition, at: number): Promise<AlertRecord | null> {
    return this.#op((c) => alerts.updateAlert(c, id, a, at));
  }
  resolveAlert(id: number, at: number): Promise<AlertRecord | null> {
    return this.#op((c) => alerts.resolveAlert(c, id, at));
  }
  listAlerts(f: { readonly state?: 'firing' | 'resolved' | undefined; readonly limit?: number | undefined; readonly before?: number | undefined }): Promise<AlertRecord[]> {
    return alerts.listAlerts(this.#read, f);
  }

  // ---- savings and audit ------------------------------------------------------------------

  recordSaving(s: Saving): Promise<void> {
    return this.#op((c) => savings.recordSaving(c, s), []);
  }
  savingsSummary(clientId: string, since: number): Promise<SavingsRow[]> {
    return savings.savingsSummary(this.#read, clientId, since);
  }
  appendAudit(entry: Omit<AuditEntry, 'seq'>): Promise<void> {
    return this.#op((c) => audit.writeAudit(c, entry));
  }
  listAudit(filter: AuditFilter): Promise<AuditEntry[]> {
    return audit.listAudit(this.#read, filter);
  }
}

/** Listener for a checked-out client's 'error' event: the operation using it fails on its own. */
function ignore(): void {}

interface Held {
  readonly client: PoolClient;
  /** Back to the pool; `broken`: dropped instead (a lost connection, outdated prepared statements). */
  release(broken?: true): void;
}

/**
 * A connection from the pool for the caller's own use. While checked out it
 * reports a lost connection as an 'error' event (the pool listens only to
 * idle ones): unheard, that would stop the process; the query in flight
 * rejects with it too, and the caller handles that.
 */
async function checkout(pool: Pool): Promise<Held> {
  const client = await pool.connect();
  client.on('error', ignore);
  return {
    client,
    release(broken) {
      client.off('error', ignore);
      client.release(broken);
    },
  };
}
