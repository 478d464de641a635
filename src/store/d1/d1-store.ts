/**
 * The Store on Cloudflare D1 (issue 12): the SQLite store's schema, SQL,
 * row codecs and transition specs, carried out as D1 batches. D1 has no
 * transaction across round trips, so every change is one batch whose
 * statements guard each other (guard.ts), and a change decided on a read
 * applies only to the row version read (transition.ts). Several Workers
 * and the scheduler's Durable Object share one database: capabilities
 * `multiProcess`; D1 answers a write once it is durable: `durableCommits`,
 * and `durable()` has nothing to wait for.
 *
 * The store contract runs against it inside workerd (test/cf/store-d1.test.ts).
 */
import type { AlertCondition, AlertRecord } from '../../core/alert-state.ts';
import { AllotError } from '../../core/errors.ts';
import type { State } from '../../core/states.ts';
import type { AdminKeyInfo, AuditEntry, Client, KeyInfo, KeyOwner, Overuse, PipelineState, Progress, RequestError, TemplateDef, WorkRequest, WorkerDef } from '../../model.ts';
import { COMPRESS_MIN_BYTES } from '../sqlite/rows.ts';
import type {
  AuditFilter, BudgetRow, CachedResult, ClaimOptions, CompleteOptions, EnqueueInput, EnqueueResult, ExternalUpdate, MigrationResult, ReapOptions,
  RequestFilter, Saving, SavingsRow, Settlement, ShadowResult, ShadowSummary, Store, StoreCapabilities, StoredRef, SystemCounts, UsageRow,
} from '../store.ts';
import * as admin from './admin.ts';
import { d1Ctx, type D1Ctx, type D1Like } from './context.ts';
import * as life from './lifecycle.ts';
import { migrateD1 } from './migrate.ts';
import { MIGRATIONS } from './migrations.ts';
import * as external from './external.ts';
import * as extras from './extras.ts';
import * as requests from './requests.ts';
import * as views from './views.ts';
import { reapExpiredLeases } from './reaper.ts';

export interface D1StoreOptions {
  /** Payloads from this many bytes are stored zstd-compressed (0: never). @default 4096 */
  readonly compressMinBytes?: number;
}

export class D1Store implements Store {
  readonly capabilities: StoreCapabilities = Object.freeze({ multiProcess: true, durableCommits: true });
  readonly #c: D1Ctx;

  constructor(db: D1Like, o: D1StoreOptions = {}) {
    this.#c = d1Ctx(db, o.compressMinBytes ?? COMPRESS_MIN_BYTES);
  }

  migrate(): Promise<MigrationResult[]> {
    return migrateD1(this.#c.db, MIGRATIONS);
  }
  async durable(): Promise<void> {}
  async close(): Promise<void> {}

  getSetting(key: string): Promise<string | null> {
    return admin.getSetting(this.#c, key);
  }
  setSettingIfAbsent(key: string, value: string): Promise<string> {
    return admin.setSettingIfAbsent(this.#c, key, value);
  }
  putSetting(key: string, value: string | null, actor: string): Promise<void> {
    return admin.putSetting(this.#c, key, value, actor);
  }

  createClient(client: Client, keyHash: string, keyPrefix: string, actor: string): Promise<void> {
    return admin.createClient(this.#c, client, keyHash, keyPrefix, actor);
  }
  getClient(id: string): Promise<Client | null> {
    return admin.getClient(this.#c, id);
  }
  listClients(): Promise<Client[]> {
    return admin.listClients(this.#c);
  }
  updateClient(client: Client, actor: string): Promise<void> {
    return admin.updateClient(this.#c, client, actor);
  }
  deleteClient(id: string, actor: string): Promise<boolean> {
    return admin.deleteClient(this.#c, id, actor);
  }
  addClientKey(clientId: string, keyHash: string, keyPrefix: string, actor: string, expiresAt: number | null = null): Promise<void> {
    return admin.addClientKey(this.#c, clientId, keyHash, keyPrefix, actor, expiresAt);
  }
  listClientKeys(clientId: string): Promise<KeyInfo[]> {
    return admin.listClientKeys(this.#c, clientId);
  }
  revokeClientKey(clientId: string, keyId: string, actor: string): Promise<boolean> {
    return admin.revokeClientKey(this.#c, clientId, keyId, actor);
  }
  keyByHash(hash: string): Promise<KeyOwner | null> {
    return admin.keyByHash(this.#c, hash);
  }
  createAdminKey(key: AdminKeyInfo & { readonly hash: string }, actor: string): Promise<void> {
    return admin.createAdminKey(this.#c, key, actor);
  }
  listAdminKeys(): Promise<AdminKeyInfo[]> {
    return admin.listAdminKeys(this.#c);
  }
  revokeAdminKey(keyId: string, actor: string): Promise<boolean> {
    return admin.revokeAdminKey(this.#c, keyId, actor);
  }
  markKeysUsed(keyIds: readonly string[], at: number): Promise<void> {
    return admin.markKeysUsed(this.#c, keyIds, at);
  }

  putWorker(worker: WorkerDef, actor: string): Promise<void> {
    return admin.putWorker(this.#c, worker, actor);
  }
  getWorker(name: string): Promise<WorkerDef | null> {
    return admin.getWorker(this.#c, name);
  }
  listWorkers(): Promise<WorkerDef[]> {
    return admin.listWorkers(this.#c);
  }
  deleteWorker(name: string, actor: string): Promise<boolean> {
    return admin.deleteWorker(this.#c, name, actor);
  }
  putTemplate(template: TemplateDef, actor: string): Promise<void> {
    return admin.putTemplate(this.#c, template, actor);
  }
  getTemplate(name: string): Promise<TemplateDef | null> {
    return admin.getTemplate(this.#c, name);
  }
  listTemplates(): Promise<TemplateDef[]> {
    return admin.listTemplates(this.#c);
  }
  deleteTemplate(name: string, actor: string): Promise<boolean> {
    return admin.deleteTemplate(this.#c, name, actor);
  }

  getBudget(clientId: string, period: string): Promise<BudgetRow> {
    return admin.getBudget(this.#c, clientId, period);
  }
  listBudgets(clientId: string): Promise<BudgetRow[]> {
    return admin.listBudgets(this.#c, clientId);
  }

  enqueue(input: EnqueueInput): Promise<EnqueueResult> {
    return requests.enqueue(this.#c, input);
  }
  enqueueMany(inputs: readonly EnqueueInput[]): Promise<(EnqueueResult | AllotError)[]> {
    return requests.enqueueMany(this.#c, inputs);
  }
  getRequest(id: string): Promise<WorkRequest | null> {
    return requests.getRequest(this.#c, id);
  }
  getRequestState(id: string): Promise<State | null> {
    return requests.getRequestState(this.#c, id);
  }
  findByIdempotencyKey(clientId: string, key: string): Promise<WorkRequest | null> {
    return requests.findByIdempotencyKey(this.#c, clientId, key);
  }
  listRequests(filter: RequestFilter): Promise<WorkRequest[]> {
    return requests.listRequests(this.#c, filter);
  }
  loadQueued(): Promise<WorkRequest[]> {
    return requests.loadQueued(this.#c);
  }
  countByState(): Promise<Record<State, number>> {
    return requests.countByState(this.#c);
  }
  usageByTemplate(clientId: string, period: string | null): Promise<UsageRow[]> {
    return requests.usageByTemplate(this.#c, clientId, period);
  }

  claim(id: string, opts: ClaimOptions): Promise<WorkRequest | null> {
    return life.claim(this.#c, id, opts);
  }
  /** One claim after another (each its own batch): what claim gives for each. */
  async claimMany(items: readonly { readonly id: string; readonly opts: ClaimOptions }[]): Promise<(WorkRequest | null)[]> {
    const out: (WorkRequest | null)[] = [];
    for (const it of items) out.push(await life.claim(this.#c, it.id, it.opts));
    return out;
  }
  start(id: string, token: number, opts: { now: number; deadlineAt: number; leaseExpiresAt: number }): Promise<WorkRequest | null> {
    return life.start(this.#c, id, token, opts);
  }
  unclaim(id: string, token: number, opts: { now: number; reason: string }): Promise<WorkRequest | null> {
    return life.unclaim(this.#c, id, token, opts);
  }
  setProgress(id: string, token: number, progress: Progress): Promise<boolean> {
    return life.setProgress(this.#c, id, token, progress);
  }
  extendLease(id: string, token: number, until: number): Promise<boolean> {
    return life.extendLease(this.#c, id, token, until);
  }
  complete(id: string, token: number, opts: CompleteOptions): Promise<WorkRequest | null> {
    return life.complete(this.#c, id, token, opts);
  }
  /** One completion after another (each its own batch): what complete gives for each. */
  async completeMany(items: readonly { readonly id: string; readonly token: number; readonly opts: CompleteOptions }[]): Promise<(WorkRequest | null)[]> {
    const out: (WorkRequest | null)[] = [];
    for (const it of items) out.push(await life.complete(this.#c, it.id, it.token, it.opts));
    return out;
  }
  retryLater(id: string, token: number, opts: { now: number; runAt: number; error: RequestError; settlement: Settlement }): Promise<WorkRequest | null> {
    return life.retryLater(this.#c, id, token, opts);
  }
  fail(id: string, token: number, opts: { now: number; error: RequestError; settlement: Settlement }): Promise<WorkRequest | null> {
    return life.fail(this.#c, id, token, opts);
  }
  promote(id: string, now: number): Promise<WorkRequest | null> {
    return life.promote(this.#c, id, now);
  }
  cancel(id: string, opts: { now: number; actor: string; returned: Readonly<Record<string, number>> }): Promise<WorkRequest | null> {
    return life.cancel(this.#c, id, opts);
  }
  setPipeline(id: string, token: number, o: { now: number; pipeline: PipelineState; progress?: Progress; ended?: Record<string, unknown> }): Promise<boolean> {
    return life.setPipeline(this.#c, id, token, o);
  }

  reapExpiredLeases(now: number, opts: ReapOptions = {}): Promise<WorkRequest[]> {
    return reapExpiredLeases(this.#c, now, opts);
  }

  recordSaving(s: Saving): Promise<void> {
    return admin.recordSaving(this.#c, s);
  }
  savingsSummary(clientId: string, since: number): Promise<SavingsRow[]> {
    return admin.savingsSummary(this.#c, clientId, since);
  }

  appendAudit(entry: Omit<AuditEntry, 'seq'>): Promise<void> {
    return this.#c.batch([admin.auditStmt(this.#c, entry)]).then(() => undefined);
  }
  listAudit(filter: AuditFilter): Promise<AuditEntry[]> {
    return admin.listAudit(this.#c, filter);
  }

  listOveruse(since: number, limit = 100): Promise<{ requestId: string; clientId: string; overuse: Overuse }[]> {
    return views.listOveruse(this.#c, since, limit);
  }
  countBySystem(): Promise<SystemCounts> {
    return views.countBySystem(this.#c);
  }
  costOverTime(since: number, bucketMs: number): Promise<{ readonly at: number; readonly costNano: number; readonly requests: number }[]> {
    return views.costOverTime(this.#c, since, bucketMs);
  }

  updateExternal(id: string, u: ExternalUpdate): Promise<WorkRequest | null> {
    return external.updateExternal(this.#c, id, u);
  }
  findByExternalId(externalId: string): Promise<WorkRequest | null> {
    return external.findByExternalId(this.#c, externalId);
  }
  importRequest(req: WorkRequest, actor: string): Promise<EnqueueResult> {
    return external.importRequest(this.#c, req, actor);
  }

  beginShadow(requestId: string, at: number): Promise<void> {
    return extras.beginShadow(this.#c, requestId, at);
  }
  pendingShadows(): Promise<string[]> {
    return extras.pendingShadows(this.#c);
  }
  dropShadow(requestId: string): Promise<void> {
    return extras.dropShadow(this.#c, requestId);
  }
  findShadowCopy(primaryId: string): Promise<WorkRequest | null> {
    return extras.findShadowCopy(this.#c, primaryId);
  }
  recordShadow(r: ShadowResult): Promise<void> {
    return extras.recordShadow(this.#c, r);
  }
  listShadow(f: { readonly limit?: number; readonly afterSeq?: number; readonly differencesOnly?: boolean }): Promise<ShadowResult[]> {
    return extras.listShadow(this.#c, f);
  }
  shadowSummary(): Promise<ShadowSummary> {
    return extras.shadowSummary(this.#c);
  }

  lookupCache(key: string, now: number): Promise<CachedResult | null> {
    return extras.lookupCache(this.#c, key, now);
  }
  storeCache(entry: CachedResult): Promise<void> {
    return extras.storeCache(this.#c, entry);
  }
  purgeCache(template: string, now: number, actor: string): Promise<number> {
    return extras.purgeCache(this.#c, template, now, actor);
  }

  putRef(ref: StoredRef): Promise<void> {
    return extras.putRef(this.#c, ref);
  }
  getRef(refId: string, now: number): Promise<StoredRef | null> {
    return extras.getRef(this.#c, refId, now);
  }
  sweepRefs(now: number): Promise<number> {
    return extras.sweepRefs(this.#c, now);
  }

  openAlerts(): Promise<AlertRecord[]> {
    return extras.openAlerts(this.#c);
  }
  fireAlert(a: AlertCondition, at: number): Promise<AlertRecord> {
    return extras.fireAlert(this.#c, a, at);
  }
  updateAlert(id: number, a: AlertCondition, at: number): Promise<AlertRecord | null> {
    return extras.updateAlert(this.#c, id, a, at);
  }
  resolveAlert(id: number, at: number): Promise<AlertRecord | null> {
    return extras.resolveAlert(this.#c, id, at);
  }
  listAlerts(f: { readonly state?: 'firing' | 'resolved' | undefined; readonly limit?: number | undefined; readonly before?: number | undefined }): Promise<AlertRecord[]> {
    return extras.listAlerts(this.#c, f);
  }
}
