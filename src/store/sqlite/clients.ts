/** Clients and their API keys (only a key's hash and prefix are stored). */
import { AllotError } from '../../core/errors.ts';
import type { Client } from '../../model.ts';
import type { Row, SqliteCtx } from './context.ts';
import { writeAdmin } from './audit.ts';
import { toClient } from './rows.ts';
import { INSERT_KEY, keyValues } from './keys.ts';

export const INSERT_CLIENT = 'INSERT INTO clients (id, name, tier, monthly_budget_usd, max_concurrent, optimizations, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)';
export const UPDATE_CLIENT = 'UPDATE clients SET name = ?, tier = ?, monthly_budget_usd = ?, max_concurrent = ?, optimizations = ?, updated_at = ? WHERE id = ?';
export const DELETE_CLIENT = 'DELETE FROM clients WHERE id = ?';
export const SELECT_CLIENT = 'SELECT * FROM clients WHERE id = ?';
export const LIST_CLIENTS = 'SELECT * FROM clients ORDER BY created_at, id';
export const COUNT_IN_FLIGHT = "SELECT COUNT(*) AS n FROM requests WHERE client_id = ? AND state IN ('PENDING', 'PREPARING', 'RUNNING', 'WAITING_RETRY')";

/** A new client with its first API key. */
export function createClient(c: SqliteCtx, cl: Client, keyHash: string, keyPrefix: string, actor: string): void {
  c.tx(() => {
    c.q(INSERT_CLIENT).run(
      cl.id, cl.name, cl.tier, cl.monthlyBudgetUsd, cl.maxConcurrent, cl.optimizations ? JSON.stringify(cl.optimizations) : null, cl.createdAt, cl.updatedAt,
    );
    c.q(INSERT_KEY).run(...keyValues(keyHash, cl.id, keyPrefix, cl.createdAt, null));
    writeAdmin(c, actor, 'client:create', { client_id: cl.id, name: cl.name, tier: cl.tier });
  });
}

export function getClient(c: SqliteCtx, id: string): Client | null {
  const r = c.q(SELECT_CLIENT).get(id) as Row | undefined;
  return r ? toClient(r) : null;
}

export function listClients(c: SqliteCtx): Client[] {
  return (c.q(LIST_CLIENTS).all() as Row[]).map(toClient);
}

export function updateClient(c: SqliteCtx, cl: Client, actor: string): void {
  c.tx(() => {
    c.q(UPDATE_CLIENT).run(
      cl.name, cl.tier, cl.monthlyBudgetUsd, cl.maxConcurrent, cl.optimizations ? JSON.stringify(cl.optimizations) : null, cl.updatedAt, cl.id,
    );
    writeAdmin(c, actor, 'client:update', { client_id: cl.id, name: cl.name, tier: cl.tier, monthly_budget_usd: cl.monthlyBudgetUsd });
  });
}

/** Deletes a client with nothing in flight (CONFLICT otherwise); false when there was none. */
export function deleteClient(c: SqliteCtx, id: string, actor: string): boolean {
  return c.tx(() => {
    const active = c.q(COUNT_IN_FLIGHT).get(id) as Row;
    if (Number(active.n) > 0) {
      throw new AllotError('CONFLICT', `Client ${id} has ${active.n} requests in flight; cancel them first`);
    }
    const r = c.q(DELETE_CLIENT).run(id);
    if (Number(r.changes) > 0) writeAdmin(c, actor, 'client:delete', { client_id: id });
    return Number(r.changes) > 0;
  });
}
