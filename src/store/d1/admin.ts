/**
 * What admins change on D1 (settings, clients and their keys, workers and
 * templates) and what reads them, with the SQLite store's SQL: each change
 * and its audit row are one batch.
 */
import { AllotError } from '../../core/errors.ts';
import type { AdminKeyInfo, AuditEntry, Client, KeyInfo, KeyOwner, TemplateDef, WorkerDef } from '../../model.ts';
import type { AuditFilter, BudgetRow, Saving, SavingsRow } from '../store.ts';
import { INSERT_SAVING, SUMMARY, savingsRow } from '../sqlite/savings.ts';
import { auditQuery, INSERT_AUDIT } from '../sqlite/audit.ts';
import { LIST_BUDGETS, SELECT_BUDGET } from '../sqlite/budgets.ts';
import { COUNT_IN_FLIGHT, DELETE_CLIENT, INSERT_CLIENT, LIST_CLIENTS, SELECT_CLIENT, UPDATE_CLIENT } from '../sqlite/clients.ts';
import * as k from '../sqlite/keys.ts';
import { keyId } from '../key-id.ts';
import { DELETE, LIST, SELECT, UPSERT } from '../sqlite/definitions.ts';
import { toAudit, toClient } from '../sqlite/rows.ts';
import { DELETE_SETTING, INSERT_SETTING_IF_ABSENT, SELECT_SETTING, UPSERT_SETTING } from '../sqlite/settings.ts';
import type { D1Ctx, D1Statement, Val } from './context.ts';
import { insertWhere } from './guard.ts';

/** The audit row of an entry, as a statement for the caller's batch; with `cond`, written only if it holds (guard.ts). */
export function auditStmt(c: D1Ctx, e: Omit<AuditEntry, 'seq'>, cond?: string, condArgs: readonly Val[] = []): D1Statement {
  const values: Val[] = [e.at, e.requestId, e.clientId, e.kind, e.from, e.to, e.actor, e.data === null ? null : JSON.stringify(e.data)];
  return cond === undefined ? c.stmt(INSERT_AUDIT, ...values) : c.stmt(insertWhere(INSERT_AUDIT, cond), ...values, ...condArgs);
}

/** An operator's change, stamped now; with `cond`, written only if it holds. */
function adminStmt(c: D1Ctx, actor: string, action: string, data: Record<string, unknown>, cond?: string): D1Statement {
  return auditStmt(c, { at: Date.now(), requestId: null, clientId: null, kind: 'admin', from: null, to: null, actor, data: { action, ...data } }, cond);
}

export async function getSetting(c: D1Ctx, key: string): Promise<string | null> {
  const r = await c.first(SELECT_SETTING, key);
  return r ? (r.value as string) : null;
}

export async function setSettingIfAbsent(c: D1Ctx, key: string, value: string): Promise<string> {
  await c.run(INSERT_SETTING_IF_ABSENT, key, value);
  return (await getSetting(c, key)) as string;
}

export async function putSetting(c: D1Ctx, key: string, value: string | null, actor: string): Promise<void> {
  await c.batch([value === null ? c.stmt(DELETE_SETTING, key) : c.stmt(UPSERT_SETTING, key, value), adminStmt(c, actor, 'setting:put', { key, value })]);
}

const optimizations = (cl: Client): string | null => (cl.optimizations ? JSON.stringify(cl.optimizations) : null);

export async function createClient(c: D1Ctx, cl: Client, keyHash: string, keyPrefix: string, actor: string): Promise<void> {
  await c.batch([
    c.stmt(INSERT_CLIENT, cl.id, cl.name, cl.tier, cl.monthlyBudgetUsd, cl.maxConcurrent, optimizations(cl), cl.createdAt, cl.updatedAt),
    c.stmt(k.INSERT_KEY, ...k.keyValues(keyHash, cl.id, keyPrefix, cl.createdAt, null)),
    adminStmt(c, actor, 'client:create', { client_id: cl.id, name: cl.name, tier: cl.tier }),
  ]);
}

export async function getClient(c: D1Ctx, id: string): Promise<Client | null> {
  const r = await c.first(SELECT_CLIENT, id);
  return r ? toClient(r) : null;
}

export async function listClients(c: D1Ctx): Promise<Client[]> {
  return (await c.all(LIST_CLIENTS)).map(toClient);
}

export async function updateClient(c: D1Ctx, cl: Client, actor: string): Promise<void> {
  await c.batch([
    c.stmt(UPDATE_CLIENT, cl.name, cl.tier, cl.monthlyBudgetUsd, cl.maxConcurrent, optimizations(cl), cl.updatedAt, cl.id),
    adminStmt(c, actor, 'client:update', { client_id: cl.id, name: cl.name, tier: cl.tier, monthly_budget_usd: cl.monthlyBudgetUsd }),
  ]);
}

const IN_FLIGHT = COUNT_IN_FLIGHT.replace('SELECT COUNT(*) AS n FROM requests WHERE', 'SELECT 1 FROM requests WHERE');

/**
 * Deletes a client with nothing in flight (CONFLICT otherwise); false when there was none. The check is part of
 * the delete, so a request admitted meanwhile keeps its client.
 */
export async function deleteClient(c: D1Ctx, id: string, actor: string): Promise<boolean> {
  const [deleted] = await c.batch([
    c.stmt(`${DELETE_CLIENT} AND NOT EXISTS (${IN_FLIGHT})`, id, id),
    adminStmt(c, actor, 'client:delete', { client_id: id }, 'changes() > 0'),
  ]);
  if ((deleted?.meta.changes ?? 0) > 0) return true;
  const active = await c.first(COUNT_IN_FLIGHT, id);
  if (Number(active?.n ?? 0) > 0) throw new AllotError('CONFLICT', `Client ${id} has ${String(active?.n)} requests in flight; cancel them first`);
  return false;
}

export async function addClientKey(c: D1Ctx, clientId: string, keyHash: string, keyPrefix: string, actor: string, expiresAt: number | null): Promise<void> {
  await c.batch([
    c.stmt(k.INSERT_KEY, ...k.keyValues(keyHash, clientId, keyPrefix, Date.now(), expiresAt)),
    adminStmt(c, actor, 'client:key:create', { client_id: clientId, key_id: keyId(keyHash), prefix: keyPrefix, expires_at: expiresAt }),
  ]);
}

export async function listClientKeys(c: D1Ctx, clientId: string): Promise<KeyInfo[]> {
  return (await c.all(k.LIST_CLIENT_KEYS, clientId)).map(k.toKeyInfo);
}

/** The delete and its audit row in one batch, the row written only if a key went. */
export async function revokeClientKey(c: D1Ctx, clientId: string, id: string, actor: string): Promise<boolean> {
  const [deleted] = await c.batch([c.stmt(k.DELETE_CLIENT_KEY, clientId, id), adminStmt(c, actor, 'client:key:revoke', { client_id: clientId, key_id: id }, 'changes() > 0')]);
  return (deleted?.meta.changes ?? 0) > 0;
}

export async function keyByHash(c: D1Ctx, hash: string): Promise<KeyOwner | null> {
  const client = await c.first(k.CLIENT_KEY_BY_HASH, hash);
  if (client) return k.clientKeyOwner(client);
  const admin = await c.first(k.ADMIN_KEY_BY_HASH, hash);
  return admin ? k.adminKeyOwner(admin) : null;
}

export async function createAdminKey(c: D1Ctx, key: AdminKeyInfo & { readonly hash: string }, actor: string): Promise<void> {
  await c.batch([
    c.stmt(k.INSERT_ADMIN_KEY, ...k.adminKeyValues(key)),
    adminStmt(c, actor, 'admin:key:create', { key_id: key.id, prefix: key.prefix, role: key.role, name: key.name, expires_at: key.expiresAt }),
  ]);
}

export async function listAdminKeys(c: D1Ctx): Promise<AdminKeyInfo[]> {
  return (await c.all(k.LIST_ADMIN_KEYS)).map(k.toAdminKeyInfo);
}

export async function revokeAdminKey(c: D1Ctx, id: string, actor: string): Promise<boolean> {
  const [deleted] = await c.batch([c.stmt(k.DELETE_ADMIN_KEY, id), adminStmt(c, actor, 'admin:key:revoke', { key_id: id }, 'changes() > 0')]);
  return (deleted?.meta.changes ?? 0) > 0;
}

export async function markKeysUsed(c: D1Ctx, ids: readonly string[], at: number): Promise<void> {
  if (ids.length) await c.batch(ids.flatMap((id) => [c.stmt(k.TOUCH_CLIENT_KEY, at, id, at), c.stmt(k.TOUCH_ADMIN_KEY, at, id, at)]));
}

type DefinitionTable = 'workers' | 'templates';

async function putDefinition(c: D1Ctx, table: DefinitionTable, name: string, def: unknown, actor: string, action: string, data: Record<string, unknown>): Promise<void> {
  await c.batch([c.stmt(UPSERT[table], name, JSON.stringify(def), Date.now()), adminStmt(c, actor, action, { name, ...data })]);
}

async function getDefinition<T>(c: D1Ctx, table: DefinitionTable, name: string): Promise<T | null> {
  const r = await c.first(SELECT[table], name);
  return r ? (JSON.parse(r.def as string) as T) : null;
}

async function listDefinitions<T>(c: D1Ctx, table: DefinitionTable): Promise<T[]> {
  return (await c.all(LIST[table])).map((r) => JSON.parse(r.def as string) as T);
}

async function deleteDefinition(c: D1Ctx, table: DefinitionTable, name: string, actor: string, action: string): Promise<boolean> {
  const [r] = await c.batch([
    c.stmt(DELETE[table], name),
    adminStmt(c, actor, action, { name }, 'changes() > 0'),
  ]);
  return (r?.meta.changes ?? 0) > 0;
}

export const putWorker = (c: D1Ctx, w: WorkerDef, actor: string): Promise<void> => putDefinition(c, 'workers', w.name, w, actor, 'worker:put', { transport: w.transport });
export const getWorker = (c: D1Ctx, name: string): Promise<WorkerDef | null> => getDefinition<WorkerDef>(c, 'workers', name);
export const listWorkers = (c: D1Ctx): Promise<WorkerDef[]> => listDefinitions<WorkerDef>(c, 'workers');
export const deleteWorker = (c: D1Ctx, name: string, actor: string): Promise<boolean> => deleteDefinition(c, 'workers', name, actor, 'worker:delete');
export const putTemplate = (c: D1Ctx, t: TemplateDef, actor: string): Promise<void> => putDefinition(c, 'templates', t.name, t, actor, 'template:put', { worker: t.worker });
export const getTemplate = (c: D1Ctx, name: string): Promise<TemplateDef | null> => getDefinition<TemplateDef>(c, 'templates', name);
export const listTemplates = (c: D1Ctx): Promise<TemplateDef[]> => listDefinitions<TemplateDef>(c, 'templates');
export const deleteTemplate = (c: D1Ctx, name: string, actor: string): Promise<boolean> => deleteDefinition(c, 'templates', name, actor, 'template:delete');

export async function getBudget(c: D1Ctx, clientId: string, period: string): Promise<BudgetRow> {
  const r = await c.first(SELECT_BUDGET, clientId, period);
  return { clientId, period, spentNano: Number(r?.spent_nano ?? 0), heldNano: Number(r?.held_nano ?? 0) };
}

export async function listBudgets(c: D1Ctx, clientId: string): Promise<BudgetRow[]> {
  return (await c.all(LIST_BUDGETS, clientId)).map((r) => ({ clientId, period: r.period as string, spentNano: Number(r.spent_nano), heldNano: Number(r.held_nano) }));
}

export async function listAudit(c: D1Ctx, f: AuditFilter): Promise<AuditEntry[]> {
  const { sql, args } = auditQuery(f);
  return (await c.all(sql, ...args)).map(toAudit);
}

export async function recordSaving(c: D1Ctx, v: Saving): Promise<void> {
  await c.run(INSERT_SAVING, v.at, v.requestId, v.clientId, v.template, v.strategy, v.usdNano, v.calls, v.bytes, v.method);
}

export async function savingsSummary(c: D1Ctx, clientId: string, since: number): Promise<SavingsRow[]> {
  return (await c.all(SUMMARY, clientId, since)).map(savingsRow);
}
