/** Settings: small named values (the instance id, switches set at run time). */
import { one, type PgCtx } from './context.ts';
import { writeAdmin } from './audit.ts';

export async function getSetting(c: PgCtx, key: string): Promise<string | null> {
  const r = await one(c, 'SELECT value FROM settings WHERE key = $1', [key]);
  return r ? (r.value as string) : null;
}

/** Inserts unless present, then reads back in the same transaction: concurrent callers agree on one winner. */
export async function setSettingIfAbsent(c: PgCtx, key: string, value: string): Promise<string> {
  await c.q('INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [key, value]);
  return (await getSetting(c, key)) as string;
}

export async function putSetting(c: PgCtx, key: string, value: string | null, actor: string): Promise<void> {
  if (value === null) await c.q('DELETE FROM settings WHERE key = $1', [key]);
  else await c.q('INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [key, value]);
  await writeAdmin(c, actor, 'setting:put', { key, value });
}
