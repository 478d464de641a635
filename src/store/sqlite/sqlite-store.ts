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
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { Worker } from 'node:worker_threads';
import { AllotError } from '../../core/errors.ts';
import { sumUsage } from '../../core/cost.ts';
import { assertTransition, STATES, type State } from '../../core/states.ts';
import type { AlertCondition, AlertRecord } from '../../core/alert-state.ts';
import type { BucketState } from '../../core/token-bucket.ts';
import type { AuditEntry, Client, Optimization, Overuse, PipelineState, Progress, TemplateDef, WorkRequest, WorkerDef } from '../../model.ts';
import type {
  AuditFilter, BucketWrites, BudgetRow, CachedResult, EnqueueInput, ExternalUpdate, Saving, ShadowResult, ShadowSummary, SystemCounts, SavingsRow, StoredRef, EnqueueResult, MigrationResult, RequestFilter, Settlement, Store,
  StoreCapabilities, UsageRow, ReapOptions,
} from '../store.ts';
import { DEFAULT_MAX_RECOVERIES } from '../store.ts';
import { migrateSqlite } from './migrate.ts';
import type { SqliteCtx } from './context.ts';
import * as alerts from './alerts.ts';
import * as audit from './audit.ts';
import * as budgets from './budgets.ts';
import * as cache from './cache.ts';
import * as clients from './clients.ts';
import * as definitions from './definitions.ts';
import * as refs from './refs.ts';
import * as savings from './savings.ts';
import * as settings from './settings.ts';
import * as shadow from './shadow.ts';
import { prepareDatabaseFile } from './files.ts';
import { COMPRESS_MIN_BYTES, INPUT_PARAM, INSERT_REQUEST, packJson, requestParams, toRequest } from './rows.ts';

type Row = Record<string, unknown>;
type Val = string | number | null | Uint8Array;

/** What a transition reads before it writes: enough to check, fence, settle and count. */
const CURRENT_COLUMNS = 'state, lease_token, client_id, period, hold_nano, attempts, started_at, usage, cost_nano';

interface TransitionSpec {
  readonly from: readonly State[];
  readonly to: State;
  /**
   * Pass through this state on the way to `to` in the same write: both steps
   * are checked and audited (`via.data` for the first), one row update is made.
   */
  readonly via?: { readonly state: State; readonly actor: string; readonly data?: Record<string, unknown> } | undefined;
  /** Fencing token the caller holds; null for operator actions (cancel) and the reaper. */
  readonly token: number | null;
  readonly now: number;
  /** Columns to set; a function receives the current row (see CURRENT_COLUMNS). */
  readonly set?: Readonly<Record<string, Val>> | ((cur: Row) => Readonly<Record<string, Val>>);
  /** Release the request's hold (terminal states). */
  readonly releaseHold?: boolean;
  readonly chargeNano?: number;
  readonly buckets?: BucketWrites | undefined;
  readonly actor: string;
  readonly data?: Record<string, unknown> | ((cur: Row) => Record<string, unknown>) | undefined;
}

export class SqliteStore implements Store {
  readonly capabilities: StoreCapabilities = Object.freeze({ multiProcess: false, durableCommits: true });
  readonly #db: DatabaseSync;
  readonly #stmts = new Map<string, StatementSync>();

  readonly #onFatal: (err: unknown) => void;
  #checkpointer: Worker | undefined;
  #checkpointerExited: Promise<unknown> = Promise.resolve();

  /**
   * @param path file path, or ':memory:' for tests that do not need a file.
   * @param opts.onFatal called when a COMMIT fails; the process should stop. @default throws
   */
  readonly #compressMin: number;
  /** What the concept modules get: one object for the store's life, so an operation allocates none. */
  readonly #ctx: SqliteCtx;
  /** What preparing the database files found worth a warning (a folder others can read). */
  readonly warnings: readonly string[];

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

  #audit(e: Omit<AuditEntry, 'seq'>): void {
    audit.writeAudit(this.#ctx, e);
  }

  /** The one place a request changes state: checks, update, budget, buckets, audit. */
  #transition(id: string, t: TransitionSpec): WorkRequest | null {
    return this.#tx(() => {
      const row = this.#q(`SELECT ${CURRENT_COLUMNS} FROM requests WHERE id = ?`).get(id) as Row | undefined;
      if (!row) return null;
      const from = row.state as State;
      if (!t.from.includes(from)) return null;
      if (t.token !== null && Number(row.lease_token) !== t.token) return null;
      if (t.via) {
        assertTransition(from, t.via.state);
        assertTransition(t.via.state, t.to);
      } else assertTransition(from, t.to);
      const set: Record<string, Val> = { ...(typeof t.set === 'function' ? t.set(row) : t.set), state: t.to, updated_at: t.now };
      const cols = Object.keys(set);
      const updated = this.#q(`UPDATE requests SET ${cols.map((c) => `${c} = ?`).join(', ')} WHERE id = ? RETURNING *`).get(
        ...cols.map((c) => set[c] as Val),
        id,
      ) as Row;
      const release = t.releaseHold ? Number(row.hold_nano) : 0;
      const charge = t.chargeNano ?? 0;
      if (release !== 0 || charge !== 0) {
        this.#q(
          'UPDATE budgets SET held_nano = MAX(0, held_nano - ?), spent_nano = spent_nano + ? WHERE client_id = ? AND period = ?',
        ).run(release, charge, row.client_id as string, row.period as string);
      }
      budgets.writeBuckets(this.#ctx, t.buckets);
      const clientId = row.client_id as string;
      if (t.via) this.#audit({ at: t.now, requestId: id, clientId, kind: 'transition', from, to: t.via.state, actor: t.via.actor, data: t.via.data ?? null });
      this.#audit({
        at: t.now, requestId: id, clientId, kind: 'transition', from: t.via ? t.via.state : from, to: t.to, actor: t.actor,
        data: (typeof t.data === 'function' ? t.data(row) : t.data) ?? null,
      });
      this.#countMove(from, t.to);
      return toRequest(updated);
    });
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

  async addClientKey(clientId: string, keyHash: string, keyPrefix: string, actor: string): Promise<void> {
    clients.addClientKey(this.#ctx, clientId, keyHash, keyPrefix, actor);
  }

  async clientByKeyHash(hash: string): Promise<Client | null> {
    return clients.clientByKeyHash(this.#ctx, hash);
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

  // ---- buckets and budgets ------------------------------------------------

  async loadBuckets(): Promise<Map<string, BucketState>> {
    return budgets.loadBuckets(this.#ctx);
  }

  async getBudget(clientId: string, period: string): Promise<BudgetRow> {
    return budgets.getBudget(this.#ctx, clientId, period);
  }

  async listBudgets(clientId: string): Promise<BudgetRow[]> {
    return budgets.listBudgets(this.#ctx, clientId);
  }

  async adjustBuckets(buckets: BucketWrites, entry: { at: number; actor: string; data: Record<string, unknown> }): Promise<void> {
    budgets.adjustBuckets(this.#ctx, buckets, entry);
  }

  // ---- requests -----------------------------------------------------------

  async enqueue(input: EnqueueInput): Promise<EnqueueResult> {
    const q = input.request;
    return this.#tx((): EnqueueResult => {
      if (q.idempotencyKey !== null) {
        const prior = this.#q('SELECT * FROM requests WHERE client_id = ? AND idempotency_key = ?').get(q.clientId, q.idempotencyKey) as Row | undefined;
        if (prior) return { kind: 'existing', request: toRequest(prior) };
      }
      this.#q('INSERT INTO budgets (client_id, period) VALUES (?, ?) ON CONFLICT DO NOTHING').run(q.clientId, q.period);
      const b = budgets.getBudget(this.#ctx, q.clientId, q.period);
      if (input.budgetLimitNano !== null && b.spentNano + b.heldNano + q.holdNano > input.budgetLimitNano) {
        const remainingNano = Math.max(0, input.budgetLimitNano - b.spentNano - b.heldNano);
        throw new AllotError('BUDGET_EXCEEDED', `Estimated worst-case cost does not fit the remaining budget of client ${q.clientId}`, {
          details: { required_nano: q.holdNano, remaining_nano: remainingNano, spent_nano: b.spentNano, held_nano: b.heldNano, limit_nano: input.budgetLimitNano, period: q.period },
        });
      }
      this.#q('UPDATE budgets SET held_nano = held_nano + ? WHERE client_id = ? AND period = ?').run(q.holdNano, q.clientId, q.period);
      const params = requestParams(q, this.#compressMin, input.inputJson, input.inputZstd);
      this.#q(INSERT_REQUEST).run(...params);
      savings.recordCompressionSaving(this.#ctx, q.id, q.clientId, q.template, q.createdAt, params[INPUT_PARAM], 'input');
      this.#audit({
        at: q.createdAt, requestId: q.id, clientId: q.clientId, kind: 'transition', from: null, to: q.state, actor: 'api',
        data: { template: q.template, hold_nano: q.holdNano, estimate: q.estimate.resources },
      });
      this.#countMove(null, q.state);
      return { kind: 'created', request: q };
    });
  }

  async getRequest(id: string): Promise<WorkRequest | null> {
    const r = this.#q('SELECT * FROM requests WHERE id = ?').get(id) as Row | undefined;
    return r ? toRequest(r) : null;
  }

  async findByIdempotencyKey(clientId: string, key: string): Promise<WorkRequest | null> {
    const r = this.#q('SELECT * FROM requests WHERE client_id = ? AND idempotency_key = ?').get(clientId, key) as Row | undefined;
    return r ? toRequest(r) : null;
  }

  async listRequests(f: RequestFilter): Promise<WorkRequest[]> {
    const where: string[] = [];
    const args: Val[] = [];
    if (f.clientId) {
      where.push('client_id = ?');
      args.push(f.clientId);
    }
    if (f.template) {
      where.push('template = ?');
      args.push(f.template);
    }
    if (f.states?.length) {
      where.push(`state IN (${f.states.map(() => '?').join(', ')})`);
      args.push(...f.states);
    }
    if (!f.includeShadow) where.push('shadow_of IS NULL');
    if (f.before) {
      where.push('(created_at, id) < (SELECT created_at, id FROM requests WHERE id = ?)');
      args.push(f.before);
    }
    const sql = `SELECT * FROM requests ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT ?`;
    return (this.#q(sql).all(...args, Math.min(f.limit ?? 100, 10_000)) as Row[]).map(toRequest);
  }

  async loadQueued(): Promise<WorkRequest[]> {
    return (this.#q("SELECT * FROM requests WHERE state IN ('PENDING', 'WAITING_RETRY') AND system = 'allot' ORDER BY created_at").all() as Row[]).map(toRequest);
  }

  async countByState(): Promise<Record<State, number>> {
    return { ...this.#stateCounts() };
  }

  /**
   * Requests per state, counted once from the table and then kept up to date
   * by every write (this connection is the only writer), so /status does not
   * scan the table on every call.
   */
  #counts: Record<State, number> | null = null;

  #stateCounts(): Record<State, number> {
    if (!this.#counts) {
      const out = Object.fromEntries(Object.values(STATES).map((s) => [s, 0])) as Record<State, number>;
      for (const r of this.#q('SELECT state, COUNT(*) AS n FROM requests GROUP BY state').all() as Row[]) out[r.state as State] = Number(r.n);
      this.#counts = out;
    }
    return this.#counts;
  }

  #countMove(from: State | null, to: State): void {
    if (!this.#counts) return; // Not loaded yet: the first read counts from the table.
    if (from) this.#counts[from]--;
    this.#counts[to]++;
  }

  async usageByTemplate(clientId: string, period: string | null): Promise<UsageRow[]> {
    const rows = this.#q(`SELECT template, COUNT(*) AS requests,
        SUM(state = 'COMPLETED') AS completed, SUM(state = 'FAILED') AS failed,
        SUM(COALESCE(json_extract(usage, '$.tokens.input'), 0)) AS input_tokens,
        SUM(COALESCE(json_extract(usage, '$.tokens.output'), 0)) AS output_tokens,
        SUM(cost_nano) AS cost_nano
      FROM requests WHERE client_id = ? AND (? IS NULL OR period = ?) GROUP BY template ORDER BY template`).all(clientId, period, period) as Row[];
    return rows.map((r) => ({
      template: r.template as string, requests: Number(r.requests), completed: Number(r.completed), failed: Number(r.failed),
      inputTokens: Number(r.input_tokens), outputTokens: Number(r.output_tokens), costNano: Number(r.cost_nano),
    }));
  }

  // ---- lifecycle ------------------------------------------------------------

  async claim(
    id: string,
    o: { owner: string; now: number; leaseMs: number; reserved: Record<string, number>; buckets: BucketWrites; start?: { deadlineAt: number; leaseExpiresAt: number } },
  ): Promise<WorkRequest | null> {
    const claim = {
      lease_owner: o.owner, lease_expires_at: o.now + o.leaseMs, reserved: JSON.stringify(o.reserved),
    };
    if (!o.start) {
      return this.#transition(id, {
        from: ['PENDING'], to: 'PREPARING', token: null, now: o.now, actor: o.owner, buckets: o.buckets, data: { reserved: o.reserved },
        set: (cur) => ({ ...claim, lease_token: Number(cur.lease_token) + 1 }),
      });
    }
    const start = o.start;
    // PENDING → PREPARING → RUNNING in one row update, audited as two transitions.
    return this.#transition(id, {
      from: ['PENDING'], via: { state: 'PREPARING', actor: o.owner, data: { reserved: o.reserved } }, to: 'RUNNING', token: null, now: o.now,
      actor: 'dispatcher', buckets: o.buckets,
      set: (cur) => ({
        ...claim, lease_token: Number(cur.lease_token) + 1, attempts: Number(cur.attempts) + 1, deadline_at: start.deadlineAt,
        lease_expires_at: start.leaseExpiresAt, started_at: (cur.started_at as number | null) ?? o.now, progress: null,
      }),
      data: (cur) => ({ attempt: Number(cur.attempts) + 1 }),
    });
  }

  async start(id: string, token: number, o: { now: number; deadlineAt: number; leaseExpiresAt: number }): Promise<WorkRequest | null> {
    return this.#start(id, token, o);
  }

  #start(id: string, token: number, o: { now: number; deadlineAt: number; leaseExpiresAt: number }): WorkRequest | null {
    return this.#transition(id, {
      from: ['PREPARING'], to: 'RUNNING', token, now: o.now, actor: 'dispatcher',
      set: (cur) => ({
        attempts: Number(cur.attempts) + 1, deadline_at: o.deadlineAt, lease_expires_at: o.leaseExpiresAt,
        started_at: (cur.started_at as number | null) ?? o.now, progress: null,
      }),
      data: (cur) => ({ attempt: Number(cur.attempts) + 1 }),
    });
  }

  async unclaim(id: string, token: number, o: { now: number; buckets: BucketWrites; reason: string }): Promise<WorkRequest | null> {
    return this.#transition(id, {
      from: ['PREPARING'], to: 'PENDING', token, now: o.now, actor: 'dispatcher', buckets: o.buckets,
      set: { reserved: null, lease_owner: null, lease_expires_at: null }, data: { reason: o.reason },
    });
  }

  async setProgress(id: string, token: number, p: Progress): Promise<boolean> {
    const r = this.#q("UPDATE requests SET progress = ? WHERE id = ? AND lease_token = ? AND state = 'RUNNING'").run(JSON.stringify(p), id, token);
    return Number(r.changes) > 0;
  }

  async complete(id: string, token: number, o: { now: number; output: unknown; settlement: Settlement; optimization?: Optimization }): Promise<WorkRequest | null> {
    const packed = packJson(o.output, this.#compressMin);
    return this.#tx(() => {
      const done = this.#completeWith(id, token, o, packed);
      if (done) savings.recordCompressionSaving(this.#ctx, id, done.clientId, done.template, o.now, packed, 'output');
      return done;
    });
  }

  #completeWith(id: string, token: number, o: { now: number; output: unknown; settlement: Settlement; optimization?: Optimization }, packed: string | Uint8Array): WorkRequest | null {
    return this.#settled(id, token, 'COMPLETED', o.now, o.settlement, true, {
      output: packed, error: null, completed_at: o.now,
      progress: JSON.stringify({ percent: 100, message: 'completed', at: o.now }),
      ...(o.optimization ? { optimization: JSON.stringify(o.optimization) } : {}),
    });
  }

  async retryLater(id: string, token: number, o: { now: number; runAt: number; error: WorkRequest['error']; settlement: Settlement }): Promise<WorkRequest | null> {
    return this.#settled(id, token, 'WAITING_RETRY', o.now, o.settlement, false, { run_at: o.runAt, error: JSON.stringify(o.error) });
  }

  async fail(id: string, token: number, o: { now: number; error: WorkRequest['error']; settlement: Settlement }): Promise<WorkRequest | null> {
    return this.#settled(id, token, 'FAILED', o.now, o.settlement, true, { error: JSON.stringify(o.error), completed_at: o.now });
  }

  /** End of an attempt: add its usage and cost to the request and the budget. */
  #settled(id: string, token: number, to: State, now: number, s: Settlement, terminal: boolean, set: Record<string, Val>): WorkRequest | null {
    return this.#transition(id, {
      from: to === 'COMPLETED' ? ['RUNNING'] : ['RUNNING', 'PREPARING'], to, token, now, actor: 'dispatcher', buckets: s.buckets,
      releaseHold: terminal, chargeNano: s.costNano,
      set: (cur) => ({
        ...set, usage: JSON.stringify(sumUsage(cur.usage ? (JSON.parse(cur.usage as string) as Settlement['usage']) : null, s.usage)),
        cost_nano: Number(cur.cost_nano) + s.costNano, reserved: null, lease_owner: null, lease_expires_at: null,
        ...(s.overuse ? { overuse: JSON.stringify(s.overuse) } : {}),
      }),
      data: (cur) => {
        // A worker that used more than it was allowed costs more than the hold: charged, and recorded here.
        const overrun = Number(cur.cost_nano) + s.costNano - Number(cur.hold_nano);
        return {
          cost_nano: s.costNano, usage: s.usage, returned: s.returned, ...(overrun > 0 ? { overrun_nano: overrun } : {}), ...(s.overuse ? { overuse: s.overuse } : {}),
          ...(set.error ? { error: JSON.parse(set.error as string) } : {}),
        };
      },
    });
  }

  async promote(id: string, now: number): Promise<WorkRequest | null> {
    return this.#transition(id, { from: ['WAITING_RETRY'], to: 'PENDING', token: null, now, actor: 'scheduler', set: { run_at: null } });
  }

  async cancel(id: string, o: { now: number; actor: string; buckets: BucketWrites; returned: Readonly<Record<string, number>> }): Promise<WorkRequest | null> {
    return this.#transition(id, {
      from: ['PENDING', 'PREPARING', 'RUNNING', 'WAITING_RETRY'], to: 'CANCELLED', token: null, now: o.now, actor: o.actor,
      releaseHold: true, buckets: o.buckets, data: { returned: o.returned },
      set: { completed_at: o.now, reserved: null, lease_owner: null, lease_expires_at: null},
    });
  }

  async reapExpiredLeases(now: number, opts: ReapOptions = {}): Promise<WorkRequest[]> {
    const self = opts.self ?? null;
    const maxRecoveries = opts.maxRecoveries ?? DEFAULT_MAX_RECOVERIES;
    const rows = this.#q(
      "SELECT id, attempts, max_attempts, state, lease_owner, recoveries FROM requests WHERE state IN ('PREPARING', 'RUNNING') AND system = 'allot' AND (lease_expires_at < :now OR (:foreign = 1 AND lease_owner IS NOT :self))",
    ).all({ now, self, foreign: opts.takeForeign && self !== null ? 1 : 0 }) as Row[];
    const out: WorkRequest[] = [];
    for (const r of rows) {
      const running = r.state === 'RUNNING';
      // The live dispatcher's own lease ran out (its worker outlived the deadline): that attempt counts.
      // Any other owner is gone (Allot stopped or crashed): the attempt does not count, the recovery does.
      const counted = self !== null && r.lease_owner === self;
      const recoveries = Number(r.recoveries) + (counted ? 0 : 1);
      const exhausted = counted ? running && Number(r.attempts) >= Number(r.max_attempts) : recoveries > maxRecoveries;
      const error = counted
        ? { code: 'LEASE_EXPIRED', message: 'The worker did not answer before the lease ran out', retryable: true }
        : exhausted
          ? { code: 'LEASE_EXPIRED', message: `Allot stopped ${recoveries} times while running this request; given up after ${maxRecoveries} recoveries`, retryable: false }
          : { code: 'LEASE_EXPIRED', message: 'Allot stopped while running this request; it runs again (not counted as an attempt)', retryable: true };
      const res = this.#transition(r.id as string, {
        from: ['PREPARING', 'RUNNING'], to: exhausted ? 'FAILED' : 'WAITING_RETRY', token: null, now, actor: 'reaper',
        releaseHold: exhausted,
        set: {
          error: JSON.stringify(error), reserved: null, lease_owner: null, lease_expires_at: null, recoveries,
          ...(counted || !running ? {} : { attempts: Math.max(0, Number(r.attempts) - 1) }),
          ...(exhausted ? { completed_at: now } : { run_at: now }),
        },
        data: { reason: counted ? 'lease expired' : 'lease lost: its owner stopped', attempt_counted: counted, recoveries, owner: (r.lease_owner as string | null) ?? null },
      });
      if (res) out.push(res);
    }
    return out;
  }

  async listOveruse(since: number, limit = 1000): Promise<{ requestId: string; clientId: string; overuse: Overuse }[]> {
    const rows = this.#q('SELECT id, client_id, overuse FROM requests WHERE overuse IS NOT NULL AND updated_at >= ? ORDER BY updated_at DESC LIMIT ?').all(since, limit) as Row[];
    return rows.map((r) => ({ requestId: r.id as string, clientId: r.client_id as string, overuse: JSON.parse(r.overuse as string) as Overuse }));
  }

  // ---- pipelines, and work the legacy orchestrator executes ----------------

  async setPipeline(id: string, token: number, o: { now: number; pipeline: PipelineState; progress?: Progress; ended?: Record<string, unknown> }): Promise<boolean> {
    return this.#tx(() => {
      const r = this.#q("UPDATE requests SET pipeline = ?, progress = COALESCE(?, progress) WHERE id = ? AND lease_token = ? AND state = 'RUNNING' RETURNING client_id").get(
        JSON.stringify(o.pipeline), o.progress ? JSON.stringify(o.progress) : null, id, token,
      ) as Row | undefined;
      if (!r) return false;
      if (o.ended) this.#audit({ at: o.now, requestId: id, clientId: r.client_id as string, kind: 'stage', from: null, to: null, actor: 'dispatcher', data: o.ended });
      return true;
    });
  }

  async updateExternal(id: string, u: ExternalUpdate): Promise<WorkRequest | null> {
    return this.#tx(() => {
      const cur = this.#q('SELECT system, state FROM requests WHERE id = ?').get(id) as Row | undefined;
      if (!cur || cur.system !== 'v2') return null;
      const ext: Record<string, Val> = u.externalId ? { external_id: u.externalId } : {};
      // PENDING → PREPARING → RUNNING (or PREPARING → RUNNING, imported while v2 was building it): the legacy orchestrator took it.
      if (cur.state === 'PENDING' || cur.state === 'PREPARING') {
        const started = this.#transition(id, {
          from: [cur.state], ...(cur.state === 'PENDING' ? { via: { state: 'PREPARING' as State, actor: u.actor } } : {}), to: 'RUNNING', token: null, now: u.now, actor: u.actor,
          set: (c) => ({ ...ext, attempts: Number(c.attempts) + 1, started_at: u.startedAt ?? u.now }), data: { system: 'v2', external_id: u.externalId ?? null },
        });
        if (!started || u.to === 'RUNNING') return started;
      } else if (u.to === 'RUNNING') return null;
      const cost = u.costNano ?? 0;
      return this.#transition(id, {
        from: ['RUNNING'], to: u.to, token: null, now: u.now, actor: u.actor, releaseHold: true, chargeNano: cost,
        set: (c) => ({
          ...ext, completed_at: u.now, cost_nano: Number(c.cost_nano) + cost,
          ...(u.to === 'COMPLETED'
            ? { output: packJson(u.output, this.#compressMin), error: null }
            : { error: JSON.stringify(u.error ?? { code: 'WORKER_ERROR', message: 'The legacy orchestrator reported a failure', retryable: false }) }),
          ...(u.usage ? { usage: JSON.stringify(u.usage) } : {}),
        }),
        data: { system: 'v2', cost_nano: cost, ...(u.error ? { error: u.error } : {}) },
      });
    });
  }

  async countBySystem(): Promise<SystemCounts> {
    const zero = (): Record<State, number> => Object.fromEntries(Object.values(STATES).map((st) => [st, 0])) as Record<State, number>;
    const out = { allot: zero(), v2: zero(), shadowCopies: zero() };
    const rows = this.#q(`SELECT CASE WHEN shadow_of IS NOT NULL THEN 'shadowCopies' ELSE system END AS k, state, COUNT(*) AS n
      FROM requests GROUP BY k, state`).all() as Row[];
    for (const r of rows) {
      const bucket = out[r.k as keyof SystemCounts];
      if (bucket) bucket[r.state as State] = Number(r.n);
    }
    return out;
  }

  async costOverTime(since: number, bucketMs: number): Promise<{ at: number; costNano: number; requests: number }[]> {
    const rows = this.#q(`SELECT (completed_at / CAST(:b AS INTEGER)) * CAST(:b AS INTEGER) AS at, SUM(cost_nano) AS cost, COUNT(*) AS n FROM requests
      WHERE completed_at >= :since GROUP BY at ORDER BY at`).all({ b: Math.max(1, Math.floor(bucketMs)), since }) as Row[];
    return rows.map((r) => ({ at: Number(r.at), costNano: Number(r.cost), requests: Number(r.n) }));
  }

  async findByExternalId(externalId: string): Promise<WorkRequest | null> {
    const r = this.#q('SELECT * FROM requests WHERE external_id = ?').get(externalId) as Row | undefined;
    return r ? toRequest(r) : null;
  }

  async importRequest(q: WorkRequest, actor: string): Promise<EnqueueResult> {
    if (!q.externalId) throw new AllotError('VALIDATION_ERROR', 'An imported request needs its externalId (the v2 execution id)');
    return this.#tx((): EnqueueResult => {
      const prior = this.#q('SELECT * FROM requests WHERE external_id = ?').get(q.externalId as string) as Row | undefined;
      if (prior) return { kind: 'existing', request: toRequest(prior) };
      this.#q('INSERT INTO budgets (client_id, period) VALUES (?, ?) ON CONFLICT DO NOTHING').run(q.clientId, q.period);
      const held = q.state === 'PENDING' ? q.holdNano : 0;
      const spent = q.state === 'COMPLETED' || q.state === 'FAILED' ? q.costNano : 0;
      this.#q('UPDATE budgets SET held_nano = held_nano + ?, spent_nano = spent_nano + ? WHERE client_id = ? AND period = ?').run(held, spent, q.clientId, q.period);
      this.#q(INSERT_REQUEST).run(...requestParams(q, this.#compressMin));
      this.#audit({
        at: q.updatedAt, requestId: q.id, clientId: q.clientId, kind: 'transition', from: null, to: q.state, actor,
        data: { imported: true, system: q.system ?? 'allot', external_id: q.externalId, template: q.template, cost_nano: q.costNano },
      });
      this.#countMove(null, q.state);
      return { kind: 'created', request: q };
    });
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
    this.#audit(entry);
  }

  async listAudit(f: AuditFilter): Promise<AuditEntry[]> {
    return audit.listAudit(this.#ctx, f);
  }
}
