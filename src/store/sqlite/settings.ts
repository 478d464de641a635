/** Settings: small named values Allot keeps across restarts (keys, rollout state). */
import type { Row, SqliteCtx } from './context.ts';
import { writeAdmin } from './audit.ts';

export const SELECT_SETTING = 'SELECT value FROM settings WHERE key = ?';
export const INSERT_SETTING_IF_ABSENT = 'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING';
export const UPSERT_SETTING = 'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value';
export const DELETE_SETTING = 'DELETE FROM settings WHERE key = ?';

export function getSetting(c: SqliteCtx, key: string): string | null {
  const r = c.q(SELECT_SETTING).get(key) as Row | undefined;
  return r ? (r.value as string) : null;
}

/** Stores `value` unless the key has one already; returns the value that is stored. */
export function setSettingIfAbsent(c: SqliteCtx, key: string, value: string): string {
  c.q(INSERT_SETTING_IF_ABSENT).run(key, value);
  return getSetting(c, key) as string;
}

/** Sets (or, with null, deletes) a setting, audited as an admin action. */
export function putSetting(c: SqliteCtx, key: string, value: string | null, actor: string): void {
  c.tx(() => {
    if (value === null) c.q(DELETE_SETTING).run(key);
    else c.q(UPSERT_SETTING).run(key, value);
    writeAdmin(c, actor, 'setting:put', { key, value });
  });
}
