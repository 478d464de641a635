/**
 * API keys an operator can see and stop (PostgreSQL): a client's keys
 * (listed, revoked, expiring) and admin keys with a role. Only a key's hash
 * and prefix are stored. Rows read back as the SQLite store's do.
 */
import type { AdminKeyInfo, KeyInfo, KeyOwner } from '../../model.ts';
import { keyId } from '../key-id.ts';
import { adminKeyOwner, clientKeyOwner, toAdminKeyInfo, toKeyInfo } from '../sqlite/keys.ts';
import { one, type PgCtx } from './context.ts';
import { writeAdmin } from './audit.ts';

export const INSERT_KEY = 'INSERT INTO api_keys (hash, client_id, prefix, created_at, id, expires_at) VALUES ($1, $2, $3, $4, $5, $6)';

export async function addClientKey(c: PgCtx, clientId: string, hash: string, prefix: string, actor: string, expiresAt: number | null): Promise<void> {
  await c.q(INSERT_KEY, [hash, clientId, prefix, Date.now(), keyId(hash), expiresAt]);
  await writeAdmin(c, actor, 'client:key:create', { client_id: clientId, key_id: keyId(hash), prefix, expires_at: expiresAt });
}

export async function listClientKeys(c: PgCtx, clientId: string): Promise<KeyInfo[]> {
  return (await c.q('SELECT id, prefix, created_at, expires_at, last_used_at FROM api_keys WHERE client_id = $1 ORDER BY created_at, id', [clientId])).map(toKeyInfo);
}

export async function revokeClientKey(c: PgCtx, clientId: string, id: string, actor: string): Promise<boolean> {
  const gone = (await c.q('DELETE FROM api_keys WHERE client_id = $1 AND id = $2 RETURNING id', [clientId, id])).length > 0;
  if (gone) await writeAdmin(c, actor, 'client:key:revoke', { client_id: clientId, key_id: id });
  return gone;
}

export async function keyByHash(c: PgCtx, hash: string): Promise<KeyOwner | null> {
  const client = await one(c, 'SELECT k.id AS key_id, k.expires_at AS key_expires_at, c.* FROM api_keys k JOIN clients c ON c.id = k.client_id WHERE k.hash = $1', [hash]);
  if (client) return clientKeyOwner(client);
  const admin = await one(c, 'SELECT id, role, expires_at FROM admin_keys WHERE hash = $1', [hash]);
  return admin ? adminKeyOwner(admin) : null;
}

export async function createAdminKey(c: PgCtx, k: AdminKeyInfo & { readonly hash: string }, actor: string): Promise<void> {
  await c.q('INSERT INTO admin_keys (id, hash, prefix, role, name, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)', [k.id, k.hash, k.prefix, k.role, k.name, k.createdAt, k.expiresAt]);
  await writeAdmin(c, actor, 'admin:key:create', { key_id: k.id, prefix: k.prefix, role: k.role, name: k.name, expires_at: k.expiresAt });
}

export async function listAdminKeys(c: PgCtx): Promise<AdminKeyInfo[]> {
  return (await c.q('SELECT id, prefix, role, name, created_at, expires_at, last_used_at FROM admin_keys ORDER BY created_at, id')).map(toAdminKeyInfo);
}

export async function revokeAdminKey(c: PgCtx, id: string, actor: string): Promise<boolean> {
  const gone = (await c.q('DELETE FROM admin_keys WHERE id = $1 RETURNING id', [id])).length > 0;
  if (gone) await writeAdmin(c, actor, 'admin:key:revoke', { key_id: id });
  return gone;
}

export async function markKeysUsed(c: PgCtx, ids: readonly string[], at: number): Promise<void> {
  const touch = (table: string) => c.q(`UPDATE ${table} SET last_used_at = $1 WHERE id = ANY($2::text[]) AND (last_used_at IS NULL OR last_used_at < $1)`, [at, ids]);
  await touch('api_keys');
  await touch('admin_keys');
}
