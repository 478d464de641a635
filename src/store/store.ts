/**
 * The one storage interface. Operations are named after what they mean;
 * none takes a connection or transaction. Each operation is atomic: its
 * state change, budget change and audit row are applied together, and
 * later operations see them. Token-bucket levels are not the store's: the
 * Limiter keeps them (src/limiter/; in the embedded mode the SQLite store
 * keeps them for it, through `SqliteStore.bucketLevels()`).
 *
 * Durability is a separate barrier: `durable()` resolves once every
 * operation applied so far is committed. A backend may commit each
 * operation before resolving it (then `durable()` is immediate) or group
 * several into one commit (SQLite). Whoever tells the outside world about a
 * change (an HTTP response, a dispatch that spends a reservation) awaits
 * `durable()` first.
 *
 * Fencing: `claim` bumps `leaseToken`; every later write for that run
 * presents the token and is refused (returns null) when it no longer
 * matches, so a dispatcher that lost its lease can neither complete nor
 * charge the request.
 */
import type { Usage } from '../core/cost.ts';
import type { AllotError } from '../core/errors.ts';
import type { Nano } from '../core/money.ts';
import type { State } from '../core/states.ts';
import type { AlertCondition, AlertRecord } from '../core/alert-state.ts';
import type { AdminKeyInfo, AuditEntry, Client, KeyInfo, KeyOwner, Optimization, Overuse, PipelineState, Progress, RequestError, TemplateDef, WorkRequest, WorkerDef } from '../model.ts';

export interface StoreCapabilities {
  /** Several processes may share the store (FOR UPDATE SKIP LOCKED claiming). */
  readonly multiProcess: boolean;
  /** Transactions are durable across a process crash when committed. */
  readonly durableCommits: boolean;
}

export interface MigrationResult {
  readonly version: number;
  readonly name: string;
  readonly status: 'applied' | 'skipped';
}

export interface BudgetRow {
  readonly clientId: string;
  readonly period: string;
  readonly spentNano: Nano;
  readonly heldNano: Nano;
}

export interface EnqueueInput {
  readonly request: WorkRequest;
  /** The client's budget limit for the request's period (null = none). */
  readonly budgetLimitNano: Nano | null;
  /**
   * `request.input` as UTF-8 JSON, when the caller has it already (a large
   * input serialized off the event loop): the store need not serialize it again.
   */
  readonly inputJson?: Uint8Array | undefined;
  /** That JSON zstd-compressed, when the caller compressed it already (the store's own threshold decides whether it is used). */
  readonly inputZstd?: Uint8Array | undefined;
}

export type EnqueueResult =
  | { readonly kind: 'created'; readonly request: WorkRequest }
  | { readonly kind: 'existing'; readonly request: WorkRequest };

export interface Settlement {
  /** Actual usage reported (zero when unknown). */
  readonly usage: Usage;
  /** Cost of this attempt's usage, charged to the budget. */
  readonly costNano: Nano;
  /** Units given back to each bucket (negative: overuse debited), for the audit log. */
  readonly returned: Readonly<Record<string, number>>;
  /** Usage beyond what the job allowed: flagged on the request and in the audit row. */
  readonly overuse?: Overuse | undefined;
}

/** A claim: the lease it takes, what it reserved, and with `start` the attempt it begins at once. */
export interface ClaimOptions {
  readonly owner: string;
  readonly now: number;
  readonly leaseMs: number;
  readonly reserved: Record<string, number>;
  readonly start?: { readonly deadlineAt: number; readonly leaseExpiresAt: number } | undefined;
}

/** A completion: the output, what the attempt used and cost, and how it was optimized. */
export interface CompleteOptions {
  readonly now: number;
  readonly output: unknown;
  readonly settlement: Settlement;
  readonly optimization?: Optimization | undefined;
}

/** A lost lease is taken back at most this many times before the request fails. */
export const DEFAULT_MAX_RECOVERIES = 10;

export interface ReapOptions {
  /**
   * The calling dispatcher's owner id. Its own expired leases count as an
   * attempt (its worker outlived the deadline); leases of any other owner
   * were lost because that owner stopped, and do not.
   */
  readonly self?: string | undefined;
  /**
   * Also take back every lease not held by `self`, expired or not. Only for
   * stores without `multiProcess`, where any other owner is a previous,
   * dead incarnation of this process.
   */
  readonly takeForeign?: boolean | undefined;
  /**
   * Also take back, expired or not, leases whose owner no longer says it is
   * alive (no live row in the instance registry, `cluster_instances`): its
   * instance was killed or cut off. Not counted as an attempt. For stores
   * shared by instances that keep heartbeats (PostgreSQL); others ignore it.
   */
  readonly takeOrphaned?: boolean | undefined;
  /** Recoveries (lost leases not counted as attempts) before the request fails. @default DEFAULT_MAX_RECOVERIES */
  readonly maxRecoveries?: number | undefined;
}

export interface RequestFilter {
  readonly clientId?: string | undefined;
  readonly states?: readonly State[] | undefined;
  readonly template?: string | undefined;
  readonly limit?: number | undefined;
  /** Pagination: ids created strictly before this request. */
  readonly before?: string | undefined;
  /** Shadow copies (run only to compare with v2) are left out unless asked for. */
  readonly includeShadow?: boolean | undefined;
}

export interface AuditFilter {
  readonly requestId?: string | undefined;
  readonly clientId?: string | undefined;
  readonly afterSeq?: number | undefined;
  /** Transitions into this state only. */
  readonly toState?: State | undefined;
  /** Entries at or after / before this time (ms). */
  readonly since?: number | undefined;
  readonly until?: number | undefined;
  readonly limit?: number | undefined;
}

export interface UsageRow {
  readonly template: string;
  readonly requests: number;
  readonly completed: number;
  readonly failed: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly costNano: Nano;
}

export interface CachedResult {
  readonly key: string;
  readonly template: string;
  readonly output: unknown;
  readonly usage: Usage | null;
  readonly sourceRequestId: string;
  readonly createdAt: number;
  readonly expiresAt: number;
}

/** One optimization's saving against running the request as submitted. */
export interface Saving {
  readonly at: number;
  readonly requestId: string;
  readonly clientId: string;
  readonly template: string;
  readonly strategy: 'cache' | 'downgrade' | 'compression' | 'batching' | 'offpeak';
  readonly usdNano: Nano;
  /** Worker (API) calls avoided. */
  readonly calls: number;
  /** Bytes not stored or sent. */
  readonly bytes: number;
  /** How the saving was estimated, in words. */
  readonly method: string;
}

export interface SavingsRow {
  readonly strategy: string;
  readonly template: string;
  readonly count: number;
  readonly usdNano: Nano;
  readonly calls: number;
  readonly bytes: number;
}

/** A payload passed by reference. */
export interface StoredRef {
  readonly refId: string;
  readonly requestId: string | null;
  /** The only worker that may read it. */
  readonly worker: string;
  readonly value: unknown;
  readonly sizeBytes: number;
  readonly createdAt: number;
  readonly expiresAt: number;
}

/** What one system made of a request, for a shadow comparison. */
export interface ShadowSide {
  readonly status: string;
  readonly output: unknown;
  readonly costNano: Nano;
  readonly latencyMs: number | null;
}

/** The same request run by Allot and by the legacy orchestrator. */
export interface ShadowResult {
  readonly seq?: number | undefined;
  readonly at: number;
  readonly requestId: string;
  readonly template: string;
  /** The system whose answer the client got. */
  readonly primary: 'allot' | 'v2';
  /** Fields that differ: 'status', 'output', 'cost', 'latency'. */
  readonly differences: readonly string[];
  readonly allot: ShadowSide;
  readonly v2: ShadowSide;
}

export interface ShadowSummary {
  readonly total: number;
  readonly withDifferences: number;
  /** How many comparisons differed in each field. */
  readonly byField: Readonly<Record<string, number>>;
}

/** A change to a request the legacy orchestrator executes (system 'v2'). */
export interface ExternalUpdate {
  readonly now: number;
  readonly to: 'RUNNING' | 'COMPLETED' | 'FAILED';
  readonly actor: string;
  readonly externalId?: string | undefined;
  readonly output?: unknown;
  readonly error?: RequestError | null | undefined;
  readonly usage?: Usage | null | undefined;
  /** Charged to the client's budget when it ends. */
  readonly costNano?: Nano | undefined;
  readonly startedAt?: number | undefined;
}

/** Requests per executing system and state (a migration's progress). */
export interface SystemCounts {
  readonly allot: Record<State, number>;
  readonly v2: Record<State, number>;
  /** Allot copies of requests run by shadow mode (not in `allot`). */
  readonly shadowCopies: Record<State, number>;
}

export interface Store {
  readonly capabilities: StoreCapabilities;
  migrate(): Promise<MigrationResult[]>;
  /** Resolves when everything applied so far is committed; rejects if that commit failed. */
  durable(): Promise<void>;
  close(): Promise<void>;

  getSetting(key: string): Promise<string | null>;
  /** Sets only if absent; returns the value now stored. */
  setSettingIfAbsent(key: string, value: string): Promise<string>;
  /** Sets (or with null, removes) a setting, with an admin audit row. */
  putSetting(key: string, value: string | null, actor: string): Promise<void>;

  createClient(client: Client, keyHash: string, keyPrefix: string, actor: string): Promise<void>;
  getClient(id: string): Promise<Client | null>;
  listClients(): Promise<Client[]>;
  updateClient(client: Client, actor: string): Promise<void>;
  deleteClient(id: string, actor: string): Promise<boolean>;
  /** Another key for a client; its id is `keyId(keyHash)`. `expiresAt` null: it never expires. */
  addClientKey(clientId: string, keyHash: string, keyPrefix: string, actor: string, expiresAt?: number | null): Promise<void>;
  /** A client's keys, oldest first. */
  listClientKeys(clientId: string): Promise<KeyInfo[]>;
  /** Deletes one of a client's keys, with an audit row; false when the client has no such key. */
  revokeClientKey(clientId: string, keyId: string, actor: string): Promise<boolean>;
  /** Whose key this hash is (a client's or a stored admin key's), expired or not; null when none. */
  keyByHash(hash: string): Promise<KeyOwner | null>;
  /** Another admin key (its id is `keyId(hash)`), with an audit row. */
  createAdminKey(key: AdminKeyInfo & { readonly hash: string }, actor: string): Promise<void>;
  listAdminKeys(): Promise<AdminKeyInfo[]>;
  /** Deletes a stored admin key, with an audit row; false when there is none. */
  revokeAdminKey(keyId: string, actor: string): Promise<boolean>;
  /** Records that these keys (client or admin) were used at `at` (never moves a key's time back). */
  markKeysUsed(keyIds: readonly string[], at: number): Promise<void>;

  putWorker(worker: WorkerDef, actor: string): Promise<void>;
  getWorker(name: string): Promise<WorkerDef | null>;
  listWorkers(): Promise<WorkerDef[]>;
  deleteWorker(name: string, actor: string): Promise<boolean>;

  putTemplate(template: TemplateDef, actor: string): Promise<void>;
  getTemplate(name: string): Promise<TemplateDef | null>;
  listTemplates(): Promise<TemplateDef[]>;
  deleteTemplate(name: string, actor: string): Promise<boolean>;

  getBudget(clientId: string, period: string): Promise<BudgetRow>;
  listBudgets(clientId: string): Promise<BudgetRow[]>;

  /**
   * Accept a request: idempotency lookup, budget check and hold, insert and
   * audit, all in one transaction. Throws BUDGET_EXCEEDED; returns the
   * earlier request for a repeated idempotency key.
   */
  enqueue(input: EnqueueInput): Promise<EnqueueResult>;
  /**
   * Several submissions as one operation (a bulk submit): result `i` is
   * what `enqueue(inputs[i])` would give, or the error it would throw
   * (BUDGET_EXCEEDED) for that item alone. Holds are taken in the items'
   * order, each all or nothing, never beyond a limit.
   */
  enqueueMany(inputs: readonly EnqueueInput[]): Promise<(EnqueueResult | AllotError)[]>;
  getRequest(id: string): Promise<WorkRequest | null>;
  /** Only the request's state (null if there is none): what a waiter checks, without decoding the row. */
  getRequestState(id: string): Promise<State | null>;
  findByIdempotencyKey(clientId: string, key: string): Promise<WorkRequest | null>;
  listRequests(filter: RequestFilter): Promise<WorkRequest[]>;
  /** PENDING and WAITING_RETRY requests, to rebuild the run queue at start. */
  loadQueued(): Promise<WorkRequest[]>;
  countByState(): Promise<Record<State, number>>;
  usageByTemplate(clientId: string, period: string | null): Promise<UsageRow[]>;

  /**
   * PENDING → PREPARING: record the resources reserved (taken from the limiter before) and take a lease. Null if no longer PENDING.
   * With `start`, also PREPARING → RUNNING in the same operation (two audit rows), for
   * a dispatcher that sends the work as soon as the claim is durable.
   */
  claim(id: string, opts: ClaimOptions): Promise<WorkRequest | null>;
  /**
   * Several claims as one atomic operation, one statement where the store
   * can (a poll's jobs): result `i` is what `claim(items[i])` would give,
   * null where it does not apply. The audit rows follow the items' order.
   */
  claimMany(items: readonly { readonly id: string; readonly opts: ClaimOptions }[]): Promise<(WorkRequest | null)[]>;
  /** PREPARING → RUNNING under the lease; counts an attempt and sets the deadline. */
  start(id: string, token: number, opts: { now: number; deadlineAt: number; leaseExpiresAt: number }): Promise<WorkRequest | null>;
  /** PREPARING → PENDING: dispatch could not begin (the caller releases its grant). */
  unclaim(id: string, token: number, opts: { now: number; reason: string }): Promise<WorkRequest | null>;
  setProgress(id: string, token: number, progress: Progress): Promise<boolean>;
  /** Move the lease of a RUNNING request held under `token` on to `until` (never back); false when it is not held so. */
  extendLease(id: string, token: number, until: number): Promise<boolean>;
  /** RUNNING → COMPLETED: charge the cost, release the hold, store the output. */
  complete(id: string, token: number, opts: CompleteOptions): Promise<WorkRequest | null>;
  /**
   * Several completions as one atomic operation (a batch of results): result
   * `i` is what `complete(items[i])` would give, null where the token is
   * stale or the request is not RUNNING (nothing written or charged for it).
   */
  completeMany(items: readonly { readonly id: string; readonly token: number; readonly opts: CompleteOptions }[]): Promise<(WorkRequest | null)[]>;
  /** RUNNING|PREPARING → WAITING_RETRY: charge what the attempt used; keep the hold. */
  retryLater(id: string, token: number, opts: { now: number; runAt: number; error: RequestError; settlement: Settlement }): Promise<WorkRequest | null>;
  /** RUNNING|PREPARING → FAILED: charge what was used, release the hold. */
  fail(id: string, token: number, opts: { now: number; error: RequestError; settlement: Settlement }): Promise<WorkRequest | null>;
  /** WAITING_RETRY → PENDING once `runAt` has passed. */
  promote(id: string, now: number): Promise<WorkRequest | null>;
  /** Any cancellable state → CANCELLED: release the hold at once (the caller releases its grant; `returned` is audited). */
  cancel(id: string, opts: { now: number; actor: string; returned: Readonly<Record<string, number>> }): Promise<WorkRequest | null>;
  /**
   * PREPARING/RUNNING requests whose lease expired before `now` (see
   * ReapOptions) go to WAITING_RETRY (runAt = now), or FAILED when their
   * attempts (own leases) or recoveries (lost leases) are used up.
   * Reservations are treated as consumed: the work may have happened (the
   * limiter's grants are left to expire, which gives nothing back).
   * A lease lost with its owner does not use up an attempt: delivery is at
   * least once, and the worker dedupes by request id.
   */
  reapExpiredLeases(now: number, opts?: ReapOptions): Promise<WorkRequest[]>;
  /** Requests flagged with overuse, updated since `since`, newest first (the worker_overuse alert). */
  listOveruse(since: number, limit?: number): Promise<{ requestId: string; clientId: string; overuse: Overuse }[]>;

  /**
   * A RUNNING pipeline's stage state, under its lease; `ended` adds a 'stage'
   * audit row (a stage completed, failed an attempt, or was cancelled).
   */
  setPipeline(id: string, token: number, o: { now: number; pipeline: PipelineState; progress?: Progress; ended?: Record<string, unknown> }): Promise<boolean>;

  /**
   * A request executed by the legacy orchestrator (system 'v2'):
   * PENDING or PREPARING → RUNNING (it took the request), or → COMPLETED / FAILED,
   * charging its cost and releasing the hold. Null when the request is not
   * a v2 one or the move is not legal from where it stands.
   */
  updateExternal(id: string, u: ExternalUpdate): Promise<WorkRequest | null>;
  findByExternalId(externalId: string): Promise<WorkRequest | null>;
  countBySystem(): Promise<SystemCounts>;
  /** Cost of the requests that ended since `since`, summed per `bucketMs` (bucket start ms), oldest first; empty buckets are left out. */
  costOverTime(since: number, bucketMs: number): Promise<{ readonly at: number; readonly costNano: Nano; readonly requests: number }[]>;
  /**
   * Insert a request imported from the legacy database unless one with the
   * same `externalId` exists ('existing', unchanged). A PENDING one takes its
   * hold (no budget check: the work was accepted already); a COMPLETED or
   * FAILED one charges its cost to its period's budget.
   */
  importRequest(req: WorkRequest, actor: string): Promise<EnqueueResult>;

  /** A shadow comparison of this request is under way (kept across restarts until recorded or dropped). */
  beginShadow(requestId: string, at: number): Promise<void>;
  /** Comparisons under way, oldest first. */
  pendingShadows(): Promise<string[]>;
  /** Abandon a comparison under way (its primary was cancelled, or a copy could not run). */
  dropShadow(requestId: string): Promise<void>;
  /** The shadow copy of a request, if one was admitted. */
  findShadowCopy(primaryId: string): Promise<WorkRequest | null>;
  /** Record a comparison; it is no longer under way. */
  recordShadow(r: ShadowResult): Promise<void>;
  listShadow(f: { readonly limit?: number; readonly afterSeq?: number; readonly differencesOnly?: boolean }): Promise<ShadowResult[]>;
  shadowSummary(): Promise<ShadowSummary>;

  /** A result cached under `key` that is still fresh at `now`, or null. */
  lookupCache(key: string, now: number): Promise<CachedResult | null>;
  /** Keep a result (replacing an older one under the same key). */
  storeCache(entry: CachedResult): Promise<void>;
  /** Forget a template's cached results (and expired ones of any template); returns how many went. */
  purgeCache(template: string, now: number, actor: string): Promise<number>;

  /** Keep a payload by reference (compressed like other payloads). */
  putRef(ref: StoredRef): Promise<void>;
  /** A reference that has not expired at `now`, or null. */
  getRef(refId: string, now: number): Promise<StoredRef | null>;
  /** Delete expired references; returns how many. */
  sweepRefs(now: number): Promise<number>;

  /** Alerts still firing, oldest first. */
  openAlerts(): Promise<AlertRecord[]>;
  /** An alert starts firing; returns it (the open one, unchanged, if that condition and subject is firing already). */
  fireAlert(a: AlertCondition, at: number): Promise<AlertRecord>;
  /** What a firing alert says now (severity, message, value). */
  updateAlert(id: number, a: AlertCondition, at: number): Promise<AlertRecord | null>;
  /** A firing alert's condition no longer holds. Null when it is not open. */
  resolveAlert(id: number, at: number): Promise<AlertRecord | null>;
  /** Alerts newest first: all, firing or resolved; `before` pages by id. */
  listAlerts(f: { readonly state?: 'firing' | 'resolved' | undefined; readonly limit?: number | undefined; readonly before?: number | undefined }): Promise<AlertRecord[]>;

  recordSaving(s: Saving): Promise<void>;
  /** A client's savings since `since` (ms), per strategy and template. */
  savingsSummary(clientId: string, since: number): Promise<SavingsRow[]>;

  appendAudit(entry: Omit<AuditEntry, 'seq'>): Promise<void>;
  listAudit(filter: AuditFilter): Promise<AuditEntry[]>;
}
