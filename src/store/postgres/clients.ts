/** Clients and their API keys (stored as hashes; a deleted client's keys go with it). */
import { AllotError } from '../../core/errors.ts';
import type { Client } from '../../model.ts';
import { toClient } from '../sqlite/rows.ts';
import { one, type PgCtx } from './context.ts';
import { writeAdmin } from './audit.ts';
import { INSERT_KEY } from './keys.ts';
import { keyId } from '../key-id.ts';

const optimizations = (c: Client): string | null => (c.optimizations ? JSON.stringify(c.optimizations) : null);

export async function createClient(c: PgCtx, cl: Client, keyHash: string, keyPrefix: string, actor: string): Promise<void> {
  await c.q('INSERT INTO clients (id, name, tier, monthly_budget_usd, max_concurrent, optimizations, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)', [
    cl.id, cl.name, cl.tier, cl.monthlyBudgetUsd, cl.maxConcurrent, optimizations(cl), cl.createdAt, cl.updatedAt,
  ]);
  await c.q(INSERT_KEY, [keyHash, cl.id, keyPrefix, cl.createdAt, keyId(keyHash), null]);
  await writeAdmin(c, actor, 'client:create', { client_id: cl.id, name: cl.name, tier: cl.tier });
}

export async function getClient(c: PgCtx, id: string): Promise<Client | null> {
  const r = await one(c, 'SELECT * FROM clients WHERE id = $1', [id]);
  return r ? toClient(r) : null;
}

export async function listClients(c: PgCtx): Promise<Client[]> {
  return (await c.q('SELECT * FROM clients ORDER BY created_at, id')).map(toClient);
}

export async function updateClient(c: PgCtx, cl: Client, actor: string): Promise<void> {
  await c.q('UPDATE clients SET name = $1, tier = $2, monthly_budget_usd = $3, max_concurrent = $4, optimizations = $5, updated_at = $6 WHERE id = $7', [
    cl.name, cl.tier, cl.monthlyBudgetUsd, cl.maxConcurrent, optimizations(cl), cl.updatedAt, cl.id,
  ]);
  await writeAdmin(c, actor, 'client:update', { client_id: cl.id, name: cl.name, tier: cl.tier, monthly_budget_usd: cl.monthlyBudgetUsd });
}

/** Refused with CONFLICT while the client has requests in flight. */
export async function deleteClient(c: PgCtx, id: string, actor: string): Promise<boolean> {
  const active = await one(c, "SELECT COUNT(*) AS n FROM requests WHERE client_id = $1 AND state IN ('PENDING', 'PREPARING', 'RUNNING', 'WAITING_RETRY')", [id]);
  const n = Number(active?.n ?? 0);
  if (n > 0) throw new AllotError('CONFLICT', `Client ${id} has ${n} requests in flight; cancel them first`);
  const deleted = (await c.q('DELETE FROM clients WHERE id = $1 RETURNING id', [id])).length > 0;
  if (deleted) await writeAdmin(c, actor, 'client:delete', { client_id: id });
  return deleted;
}
