/** Workers and templates, stored alike: a name and its definition as JSON text. */
import type { PgCtx } from './context.ts';
import { writeAdmin } from './audit.ts';

export type DefinitionTable = 'workers' | 'templates';

export async function putDefinition(c: PgCtx, table: DefinitionTable, name: string, def: unknown, actor: string, action: string, data: Record<string, unknown>): Promise<void> {
  await c.q(`INSERT INTO ${table} (name, def, updated_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET def = excluded.def, updated_at = excluded.updated_at`, [
    name, JSON.stringify(def), Date.now(),
  ]);
  await writeAdmin(c, actor, action, { name, ...data });
}

export async function getDefinition<T>(c: PgCtx, table: DefinitionTable, name: string): Promise<T | null> {
  const [r] = await c.q(`SELECT def FROM ${table} WHERE name = $1`, [name]);
  return r ? (JSON.parse(r.def as string) as T) : null;
}

export async function listDefinitions<T>(c: PgCtx, table: DefinitionTable): Promise<T[]> {
  return (await c.q(`SELECT def FROM ${table} ORDER BY name`)).map((r) => JSON.parse(r.def as string) as T);
}

/** False (and no audit row) when there was nothing to delete. */
export async function deleteDefinition(c: PgCtx, table: DefinitionTable, name: string, actor: string, action: string): Promise<boolean> {
  const deleted = (await c.q(`DELETE FROM ${table} WHERE name = $1 RETURNING name`, [name])).length > 0;
  if (deleted) await writeAdmin(c, actor, action, { name });
  return deleted;
}
