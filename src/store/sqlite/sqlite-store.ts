/**
 * The embedded store: one SQLite file through node:sqlite, one connection,
 * WAL journal. SQLite is a single writer, and node:sqlite is synchronous, so
 * each operation below runs start to finish inside one BEGIN IMMEDIATE …
 * COMMIT without interleaving: that is what makes the budget check and hold
 * atomic, and the fencing-token checks race-free.
 *
 * Durability: with `synchronous=NORMAL` a committed transaction survives a
 * process crash (kill -9); `FULL` also survives power loss, at a throughput
 * cost. Both are offered through config (`database.synchronous`).
 *
 * This class owns the connection, the group-commit transaction, the
 * checkpointer, the prepared-statement cache and the per-state counters;
 * each operation is a function in the module of its concept (transition.ts,
 * intake.ts, lifecycle.ts, …), called with this store's SqliteCtx.
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { Worker } from 'node:worker_threads';
import type { AllotError } from '../../core/errors.ts';
import type { State } from '../../core/states.ts';
import type { AlertCondition, AlertRecord } from '../../core/alert-state.ts';
import type { LevelsPort } from '../../limiter/local-limiter.ts';
import type { AdminKeyInfo, AuditEntry, Client, KeyInfo, KeyOwner, Overuse, PipelineState, Progress, TemplateDef, WorkRequest, WorkerDef } from '../../model.ts';
import type {
  AuditFilter, BudgetRow, ClaimOptions, CompleteOptions, CachedResult, EnqueueInput, ExternalUpdate, Saving, ShadowResult, ShadowSummary, SystemCounts, SavingsRow, StoredRef, EnqueueResult, MigrationResult, RequestFilter, Settlement, Store,
  StoreCapabilities, UsageRow, ReapOptions,
} from '../store.ts';
import { migrateSqlite } from './migrate.ts';
import { prepareDatabaseFile } from './files.ts';
import { COMPRESS_MIN_BYTES } from './rows.ts';
import type { SqliteCtx } from './context.ts';
import * as alerts from './alerts.ts';
import * as audit from './audit.ts';
import * as budgets from './budgets.ts';
import * as cache from './cache.ts';
import * as clients from './clients.ts';
import * as definitions from './definitions.ts';
import * as keys from './keys.ts';
import * as external from './external.ts';
import * as intake from './intake.ts';
import * as lifecycle from './lifecycle.ts';
import * as many from './lifecycle-many.ts';
import * as reaper from './reaper.ts';
import * as refs from './refs.ts';
import * as savings from './savings.ts';
import * as settings from './settings.ts';
import * as shadow from './shadow.ts';
import * as views from './views.ts';

export class SqliteStore implements Store {
  readonly capabilities: StoreCapabilities = Object.freeze({ multiProcess: false, durableCommits: true });
  readonly #db: DatabaseSync;
  readonly #stmts = new Map<string, StatementSync>();

  readonly #onFatal: (err: unknown) => void;
  #checkpointer: Worker | undefined;
  #checkpointerExited: Promise<unknown> = Promise.resolve();

  readonly #compressMin: number;
  /** What the concept modules get: one object for the store's life, so an operation allocates none. */
  readonly #ctx: SqliteCtx;
  /** What preparing the database files found worth a warning (a folder others can read). */
  readonly warnings: readonly string[];

  /**
   * @param path file path, or ':memory:' for tests that do not need a file.
   * @param opts.onFatal called when a COMMIT fails; the process should stop. @default throws
   */
  constructor(path: string, opts: { synchronous?: 'NORMAL' | 'FULL'; onFatal?: (err: unknown) => void; compressMinBytes?: number } = {}) {
    this.#compressMin = opts.compressMinBytes ?? COMPRESS_MIN_BYTES;
    this.#ctx = {
      q: (sql) => this.#q(sql),
      tx: (fn) => this.#tx(fn),
      countMove: (from, to) => this.#countMove(from, to),
      compressMin: this.#compressMin,
    };
    this.#onFatal = opts.onFatal ?? ((err) => {
      throw err;
    });
    this.warnings = prepareDatabaseFile(path);
    this.#db = new DatabaseSync(path);
    this.#db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = ${opts.synchronous ?? 'NORMAL'};
      PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -65536;`);
    // What a row held before an update or delete (a worker token sealed at start, a deleted client's data) is
    // zeroed in the page being written, not left in the file as free space. FAST: no I/O beyond that page.
    this.#db.exec('PRAGMA secure_delete = FAST');
    if (path !== ':memory:') {
      // Checkpoints (and their fsyncs) run on a worker thread, not inside a COMMIT here.
      this.#db.exec('PRAGMA wal_autocheckpoint = 0');
      const w = new Worker(new URL('./checkpoint-worker.ts', import.meta.url), { workerData: { path, intervalMs: 200 } });
      this.#checkpointerExited = new Promise((r) => w.once('exit', r));
      w.on('error', (err) => this.#onFatal(err));
      w.unref();
      this.#checkpointer = w;
    }
  }

  async migrate(): Promise<MigrationResult[]> {
    return migrateSqlite(this.#db);
  }

  async close(): Promise<void> {
    this.#commit();
    const cp = this.#checkpointer;
    this.#checkpointer = undefined;
    if (cp) {
      cp.ref(); // Keep the process alive until the last checkpoint is done.
      cp.postMessage('stop');
      await this.#checkpointerExited;
    }
    if (this.#db.isOpen) this.#db.close();
  }

  #q(sql: string): StatementSync {
    let s = this.#stmts.get(sql);
    if (!s) {
      s = this.#db.prepare(sql);
      this.#stmts.set(sql, s);
    }
    return s;
  }

  #depth = 0;
  /** Callers waiting for the open group-commit transaction; null when none is open. */
  #batch: { resolve: (() => void)[]; reject: ((e: unknown) => void)[] } | null = null;

  /**
   * Runs `fn` as one atomic operation. Operations are grouped: the first one
   * opens a transaction that commits once the event loop has run the rest of
   * this turn's operations (group commit), and each runs inside its own
   * SAVEPOINT so a failing one (BUDGET_EXCEEDED) rolls back alone. Results
   * are returned at once; `durable()` waits for the COMMIT.
   * Nested calls join the outer operation.
   */
  #tx<T>(fn: () => T): T {
    if (this.#depth > 0) {
      this.#depth++;
      try {
        return fn();
      } finally {
        this.#depth--;
      }
    }
    if (!this.#batch) {
      this.#q('BEGIN IMMEDIATE').run();
      this.#batch = { resolve: [], reject: [] };
      setImmediate(() => this.#commit());
    }
    this.#depth = 1;
    this.#q('SAVEPOINT op').run();
    try {
      const r = fn();
      this.#q('RELEASE op').run();
      return r;
    } catch (err) {
      this.#q('ROLLBACK TO op').run();
      this.#q('RELEASE op').run();
      throw err;
    } finally {
      this.#depth = 0;
    }
  }

  #commit(): void {
    const b = this.#batch;
    if (!b) return;
    this.#batch = null;
    try {
      this.#q('COMMIT').run();
    } catch (err) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      for (const r of b.reject) r(err);
      // Callers already acted on these writes in memory: only a restart from disk is consistent now.
      this.#onFatal(err);
      return;
    }
    for (const r of b.resolve) r();
  }

  /** Resolves once everything written so far is committed; see Store.durable. */
  durable(): Promise<void> {
    const b = this.#batch;
    if (!b) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      b.resolve.push(resolve);
      b.reject.push(reject);
    });
  }

  // ---- per-state counters ---------------------------------------------------

  /**
   * Requests per state, counted once from the table and then kept up to date
   * by every write (this connection is the only writer), so /status does not
   * scan the table on every call.
   */
  #counts: Record<State, number> | null = null;

  #countMove(from: State | null, to: State): void {
    if (!this.#counts) return; // Not loaded yet: the first read counts from the table.
    if (from) this.#counts[from]--;
    this.#counts[to]++;
  }

  async countByState(): Promise<Record<State, number>> {
    this.#counts ??= views.countByState(this.#ctx);
    return { ...this.#counts };
  }

  // ---- requests: intake, lifecycle, reaper, v2 ---------------------------------

  async enqueue(input: EnqueueInput): Promise<EnqueueResult> {
    return intake.enqueue(this.#ctx, input);
  }

  async enqueueMany(inputs: readonly EnqueueInput[]): Promise<(EnqueueResult | AllotError)[]> {
    return intake.enqueueMany(this.#ctx, inputs);
  }

  async importRequest(q: WorkRequest, actor: string): Promise<EnqueueResult> {
    return intake.importRequest(this.#ctx, q, actor);
  }

  async claim(id: string, o: ClaimOptions): Promise<WorkRequest | null> {
    return lifecycle.claim(this.#ctx, id, o);
  }

  async claimMany(items: readonly { readonly id: string; readonly opts: ClaimOptions }[]): Promise<(WorkRequest | null)[]> {
    return many.claimMany(this.#ctx, items);
  }

  async start(id: string, token: number, o: { now: number; deadlineAt: number; leaseExpiresAt: number }): Promise<WorkRequest | null> {
    return lifecycle.start(this.#ctx, id, token, o);
  }

  async unclaim(id: string, token: number, o: { now: number; reason: string }): Promise<WorkRequest | null> {
    return lifecycle.unclaim(this.#ctx, id, token, o);
  }

  async extendLease(id: string, token: number, until: number): Promise<boolean> {
    return lifecycle.extendLease(this.#ctx, id, token, until);
  }

  async setProgress(id: string, token: number, p: Progress): Promise<boolean> {
    return lifecycle.setProgress(this.#ctx, id, token, p);
  }

  async setPipeline(id: string, token: number, o: { now: number; pipeline: PipelineState; progress?: Progress; ended?: Record<string, unknown> }): Promise<boolean> {
    return lifecycle.setPipeline(this.#ctx, id, token, o);
  }

  async complete(id: string, token: number, o: CompleteOptions): Promise<WorkRequest | null> {
    return lifecycle.complete(this.#ctx, id, token, o);
  }

  async completeMany(items: readonly { readonly id: string; readonly token: number; readonly opts: CompleteOptions }[]): Promise<(WorkRequest | null)[]> {
    return many.completeMany(this.#ctx, items);
  }

  async retryLater(id: string, token: number, o: { now: number; runAt: number; error: WorkRequest['error']; settlement: Settlement }): Promise<WorkRequest | null> {
    return lifecycle.retryLater(this.#ctx, id, token, o);
  }

  async fail(id: string, token: number, o: { now: number; error: WorkRequest['error']; settlement: Settlement }): Promise<WorkRequest | null> {
    return lifecycle.fail(this.#ctx, id, token, o);
  }

  async promote(id: string, now: number): Promise<WorkRequest | null> {
    return lifecycle.promote(this.#ctx, id, now);
  }

  async cancel(id: string, o: { now: number; actor: string; returned: Readonly<Record<string, number>> }): Promise<WorkRequest | null> {
    return lifecycle.cancel(this.#ctx, id, o);
  }

  async reapExpiredLeases(now: number, opts: ReapOptions = {}): Promise<WorkRequest[]> {
    return reaper.reapExpiredLeases(this.#ctx, now, opts);
  }

  async updateExternal(id: string, u: ExternalUpdate): Promise<WorkRequest | null> {
    return external.updateExternal(this.#ctx, id, u);
  }

  // ---- views ------------------------------------------------------------------

  async getRequest(id: string): Promise<WorkRequest | null> {
    return views.getRequest(this.#ctx, id);
  }

  async getRequestState(id: string): Promise<State | null> {
    return views.getRequestState(this.#ctx, id);
  }

  async findByIdempotencyKey(clientId: string, key: string): Promise<WorkRequest | null> {
    return views.findByIdempotencyKey(this.#ctx, clientId, key);
  }

  async findByExternalId(externalId: string): Promise<WorkRequest | null> {
    return views.findByExternalId(this.#ctx, externalId);
  }

  async listRequests(f: RequestFilter): Promise<WorkRequest[]> {
    return views.listRequests(this.#ctx, f);
  }

  async loadQueued(): Promise<WorkRequest[]> {
    return views.loadQueued(this.#ctx);
  }

  async usageByTemplate(clientId: string, period: string | null): Promise<UsageRow[]> {
    return views.usageByTemplate(this.#ctx, clientId, period);
  }

  async listOveruse(since: number, limit = 1000): Promise<{ requestId: string; clientId: string; overuse: Overuse }[]> {
    return views.listOveruse(this.#ctx, since, limit);
  }

  async countBySystem(): Promise<SystemCounts> {
    return views.countBySystem(this.#ctx);
  }

  async costOverTime(since: number, bucketMs: number): Promise<{ at: number; costNano: number; requests: number }[]> {
    return views.costOverTime(this.#ctx, since, bucketMs);
  }

  // ---- settings -----------------------------------------------------------

  async getSetting(key: string): Promise<string | null> {
    return settings.getSetting(this.#ctx, key);
  }

  async setSettingIfAbsent(key: string, value: string): Promise<string> {
    return settings.setSettingIfAbsent(this.#ctx, key, value);
  }

  async putSetting(key: string, value: string | null, actor: string): Promise<void> {
    settings.putSetting(this.#ctx, key, value, actor);
  }

  // ---- clients ------------------------------------------------------------

  async createClient(c: Client, keyHash: string, keyPrefix: string, actor: string): Promise<void> {
    clients.createClient(this.#ctx, c, keyHash, keyPrefix, actor);
  }

  async getClient(id: string): Promise<Client | null> {
    return clients.getClient(this.#ctx, id);
  }

  async listClients(): Promise<Client[]> {
    return clients.listClients(this.#ctx);
  }

  async updateClient(c: Client, actor: string): Promise<void> {
    clients.updateClient(this.#ctx, c, actor);
  }

  async deleteClient(id: string, actor: string): Promise<boolean> {
    return clients.deleteClient(this.#ctx, id, actor);
  }

  async addClientKey(clientId: string, keyHash: string, keyPrefix: string, actor: string, expiresAt: number | null = null): Promise<void> {
    keys.addClientKey(this.#ctx, clientId, keyHash, keyPrefix, actor, expiresAt);
  }

  async listClientKeys(clientId: string): Promise<KeyInfo[]> {
    return keys.listClientKeys(this.#ctx, clientId);
  }

  async revokeClientKey(clientId: string, keyId: string, actor: string): Promise<boolean> {
    return keys.revokeClientKey(this.#ctx, clientId, keyId, actor);
  }

  async keyByHash(hash: string): Promise<KeyOwner | null> {
    return keys.keyByHash(this.#ctx, hash);
  }

  async createAdminKey(key: AdminKeyInfo & { readonly hash: string }, actor: string): Promise<void> {
    keys.createAdminKey(this.#ctx, key, actor);
  }

  async listAdminKeys(): Promise<AdminKeyInfo[]> {
    return keys.listAdminKeys(this.#ctx);
  }

  async revokeAdminKey(keyId: string, actor: string): Promise<boolean> {
    return keys.revokeAdminKey(this.#ctx, keyId, actor);
  }

  async markKeysUsed(keyIds: readonly string[], at: number): Promise<void> {
    keys.markKeysUsed(this.#ctx, keyIds, at);
  }

  // ---- workers and templates ---------------------------------------------

  async putWorker(w: WorkerDef, actor: string): Promise<void> {
    definitions.putWorker(this.#ctx, w, actor);
  }

  async getWorker(name: string): Promise<WorkerDef | null> {
    return definitions.getWorker(this.#ctx, name);
  }

  async listWorkers(): Promise<WorkerDef[]> {
    return definitions.listWorkers(this.#ctx);
  }

  async deleteWorker(name: string, actor: string): Promise<boolean> {
    return definitions.deleteWorker(this.#ctx, name, actor);
  }

  async putTemplate(t: TemplateDef, actor: string): Promise<void> {
    definitions.putTemplate(this.#ctx, t, actor);
  }

  async getTemplate(name: string): Promise<TemplateDef | null> {
    return definitions.getTemplate(this.#ctx, name);
  }

  async listTemplates(): Promise<TemplateDef[]> {
    return definitions.listTemplates(this.#ctx);
  }

  async deleteTemplate(name: string, actor: string): Promise<boolean> {
    return definitions.deleteTemplate(this.#ctx, name, actor);
  }

  // ---- budgets, and the local limiter's bucket levels ------------------------

  async getBudget(clientId: string, period: string): Promise<BudgetRow> {
    return budgets.getBudget(this.#ctx, clientId, period);
  }

  async listBudgets(clientId: string): Promise<BudgetRow[]> {
    return budgets.listBudgets(this.#ctx, clientId);
  }

  /** Where the LocalLimiter keeps its levels across restarts: the buckets table (see budgets.ts `writeLevels`). */
  bucketLevels(): LevelsPort {
    return { load: () => budgets.loadBuckets(this.#ctx), write: (levels, note) => budgets.writeLevels(this.#ctx, levels, note) };
  }

  // ---- shadow mode ------------------------------------------------------------

  async beginShadow(requestId: string, at: number): Promise<void> {
    shadow.beginShadow(this.#ctx, requestId, at);
  }

  async pendingShadows(): Promise<string[]> {
    return shadow.pendingShadows(this.#ctx);
  }

  async dropShadow(requestId: string): Promise<void> {
    shadow.dropShadow(this.#ctx, requestId);
  }

  async findShadowCopy(primaryId: string): Promise<WorkRequest | null> {
    return shadow.findShadowCopy(this.#ctx, primaryId);
  }

  async recordShadow(r: ShadowResult): Promise<void> {
    shadow.recordShadow(this.#ctx, r);
  }

  async listShadow(f: { readonly limit?: number; readonly afterSeq?: number; readonly differencesOnly?: boolean }): Promise<ShadowResult[]> {
    return shadow.listShadow(this.#ctx, f);
  }

  async shadowSummary(): Promise<ShadowSummary> {
    return shadow.shadowSummary(this.#ctx);
  }

  // ---- result cache and refs ---------------------------------------------------

  async lookupCache(key: string, now: number): Promise<CachedResult | null> {
    return cache.lookupCache(this.#ctx, key, now);
  }

  async storeCache(e: CachedResult): Promise<void> {
    cache.storeCache(this.#ctx, e);
  }

  async purgeCache(template: string, now: number, actor: string): Promise<number> {
    return cache.purgeCache(this.#ctx, template, now, actor);
  }

  async putRef(r: StoredRef): Promise<void> {
    refs.putRef(this.#ctx, r);
  }

  async getRef(refId: string, now: number): Promise<StoredRef | null> {
    return refs.getRef(this.#ctx, refId, now);
  }

  async sweepRefs(now: number): Promise<number> {
    return refs.sweepRefs(this.#ctx, now);
  }

  // ---- alerts -----------------------------------------------------------------

  async openAlerts(): Promise<AlertRecord[]> {
    return alerts.openAlerts(this.#ctx);
  }

  async fireAlert(a: AlertCondition, at: number): Promise<AlertRecord> {
    return alerts.fireAlert(this.#ctx, a, at);
  }

  async updateAlert(id: number, a: AlertCondition, at: number): Promise<AlertRecord | null> {
    return alerts.updateAlert(this.#ctx, id, a, at);
  }

  async resolveAlert(id: number, at: number): Promise<AlertRecord | null> {
    return alerts.resolveAlert(this.#ctx, id, at);
  }

  async listAlerts(f: { readonly state?: 'firing' | 'resolved' | undefined; readonly limit?: number | undefined; readonly before?: number | undefined }): Promise<AlertRecord[]> {
    return alerts.listAlerts(this.#ctx, f);
  }

  // ---- savings and audit --------------------------------------------------------

  async recordSaving(v: Saving): Promise<void> {
    savings.recordSaving(this.#ctx, v);
  }

  async savingsSummary(clientId: string, since: number): Promise<SavingsRow[]> {
    return savings.savingsSummary(this.#ctx, clientId, since);
  }

  async appendAudit(entry: Omit<AuditEntry, 'seq'>): Promise<void> {
    audit.writeAudit(this.#ctx, entry);
  }

  async listAudit(f: AuditFilter): Promise<AuditEntry[]> {
    return audit.listAudit(this.#ctx, f);
  }
}
