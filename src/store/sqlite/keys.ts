/**
 * API keys an operator can see and stop: a client's keys (listed, revoked,
 * expiring) and admin keys with a role. Only a key's hash and prefix are
 * stored. The D1 store runs the same SQL (src/store/d1/admin.ts).
 */
import type { AdminKeyInfo, AdminRole, KeyInfo, KeyOwner } from '../../model.ts';
import { keyId } from '../key-id.ts';
import type { Row, SqliteCtx } from './context.ts';
import { writeAdmin } from './audit.ts';
import { num, toClient } from './rows.ts';

export const INSERT_KEY = 'INSERT INTO api_keys (hash, client_id, prefix, created_at, id, expires_at) VALUES (?, ?, ?, ?, ?, ?)';
export const LIST_CLIENT_KEYS = 'SELECT id, prefix, created_at, expires_at, last_used_at FROM api_keys WHERE client_id = ? ORDER BY created_at, id';
export const DELETE_CLIENT_KEY = 'DELETE FROM api_keys WHERE client_id = ? AND id = ?';
export const CLIENT_KEY_BY_HASH = 'SELECT k.id AS key_id, k.expires_at AS key_expires_at, c.* FROM api_keys k JOIN clients c ON c.id = k.client_id WHERE k.hash = ?';
export const ADMIN_KEY_BY_HASH = 'SELECT id, role, expires_at FROM admin_keys WHERE hash = ?';
export const INSERT_ADMIN_KEY = 'INSERT INTO admin_keys (id, hash, prefix, role, name, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)';
export const LIST_ADMIN_KEYS = 'SELECT id, prefix, role, name, created_at, expires_at, last_used_at FROM admin_keys ORDER BY created_at, id';
export const DELETE_ADMIN_KEY = 'DELETE FROM admin_keys WHERE id = ?';
export const TOUCH_CLIENT_KEY = 'UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)';
export const TOUCH_ADMIN_KEY = 'UPDATE admin_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)';

export function toKeyInfo(r: Row): KeyInfo {
  return { id: r.id as string, prefix: r.prefix as string, createdAt: Number(r.created_at), expiresAt: num(r.expires_at), lastUsedAt: num(r.last_used_at) };
}

export function toAdminKeyInfo(r: Row): AdminKeyInfo {
  return { ...toKeyInfo(r), role: r.role as AdminRole, name: (r.name as string | null) ?? null };
}

/** A client-key row (CLIENT_KEY_BY_HASH) or an admin-key row (ADMIN_KEY_BY_HASH) as whose key it is. */
export function clientKeyOwner(r: Row): KeyOwner {
  return { id: r.key_id as string, expiresAt: num(r.key_expires_at), owner: { kind: 'client', client: toClient(r) } };
}
export function adminKeyOwner(r: Row): KeyOwner {
  return { id: r.id as string, expiresAt: num(r.expires_at), owner: { kind: 'admin', role: r.role as AdminRole } };
}

/** The values of INSERT_KEY. */
export function keyValues(hash: string, clientId: string, prefix: string, createdAt: number, expiresAt: number | null): [string, string, string, number, string, number | null] {
  return [hash, clientId, prefix, createdAt, keyId(hash), expiresAt];
}

/** The values of INSERT_ADMIN_KEY. */
export function adminKeyValues(k: AdminKeyInfo & { readonly hash: string }): [string, string, string, AdminRole, string | null, number, number | null] {
  return [k.id, k.hash, k.prefix, k.role, k.name, k.createdAt, k.expiresAt];
}

export function addClientKey(c: SqliteCtx, clientId: string, hash: string, prefix: string, actor: string, expiresAt: number | null): void {
  c.tx(() => {
    c.q(INSERT_KEY).run(...keyValues(hash, clientId, prefix, Date.now(), expiresAt));
    writeAdmin(c, actor, 'client:key:create', { client_id: clientId, key_id: keyId(hash), prefix, expires_at: expiresAt });
  });
}

export function listClientKeys(c: SqliteCtx, clientId: string): KeyInfo[] {
  return (c.q(LIST_CLIENT_KEYS).all(clientId) as Row[]).map(toKeyInfo);
}

export function revokeClientKey(c: SqliteCtx, clientId: string, id: string, actor: string): boolean {
  return c.tx(() => {
    const gone = Number(c.q(DELETE_CLIENT_KEY).run(clientId, id).changes) > 0;
    if (gone) writeAdmin(c, actor, 'client:key:revoke', { client_id: clientId, key_id: id });
    return gone;
  });
}

export function keyByHash(c: SqliteCtx, hash: string): KeyOwner | null {
  const client = c.q(CLIENT_KEY_BY_HASH).get(hash) as Row | undefined;
  if (client) return clientKeyOwner(client);
  const admin = c.q(ADMIN_KEY_BY_HASH).get(hash) as Row | undefined;
  return admin ? adminKeyOwner(admin) : null;
}

export function createAdminKey(c: SqliteCtx, k: AdminKeyInfo & { readonly hash: string }, actor: string): void {
  c.tx(() => {
    c.q(INSERT_ADMIN_KEY).run(...adminKeyValues(k));
    writeAdmin(c, actor, 'admin:key:create', { key_id: k.id, prefix: k.prefix, role: k.role, name: k.name, expires_at: k.expiresAt });
  });
}

export function listAdminKeys(c: SqliteCtx): AdminKeyInfo[] {
  return (c.q(LIST_ADMIN_KEYS).all() as Row[]).map(toAdminKeyInfo);
}

export function revokeAdminKey(c: SqliteCtx, id: string, actor: string): boolean {
  return c.tx(() => {
    const gone = Number(c.q(DELETE_ADMIN_KEY).run(id).changes) > 0;
    if (gone) writeAdmin(c, actor, 'admin:key:revoke', { key_id: id });
    return gone;
  });
}

export function markKeysUsed(c: SqliteCtx, ids: readonly string[], at: number): void {
  c.tx(() => {
    for (const id of ids) {
      c.q(TOUCH_CLIENT_KEY).run(at, id, at);
      c.q(TOUCH_ADMIN_KEY).run(at, id, at);
    }
  });
}
