/**
 * Worker and template definitions. Both are stored alike: a name and its
 * definition as JSON, so one set of functions serves both tables.
 */
import type { TemplateDef, WorkerDef } from '../../model.ts';
import type { Row, SqliteCtx } from './context.ts';
import { writeAdmin } from './audit.ts';

type DefinitionTable = 'workers' | 'templates';

// One statement per table, spelled out so each is a plain constant the statement cache keys on.
export const UPSERT = {
  workers: 'INSERT INTO workers (name, def, updated_at) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET def = excluded.def, updated_at = excluded.updated_at',
  templates: 'INSERT INTO templates (name, def, updated_at) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET def = excluded.def, updated_at = excluded.updated_at',
} as const;
export const SELECT = { workers: 'SELECT def FROM workers WHERE name = ?', templates: 'SELECT def FROM templates WHERE name = ?' } as const;
export const LIST = { workers: 'SELECT def FROM workers ORDER BY name', templates: 'SELECT def FROM templates ORDER BY name' } as const;
export const DELETE = { workers: 'DELETE FROM workers WHERE name = ?', templates: 'DELETE FROM templates WHERE name = ?' } as const;

/** Creates or replaces a definition, audited as `action` with `data`. */
function putDefinition(c: SqliteCtx, table: DefinitionTable, name: string, def: unknown, actor: string, action: string, data: Record<string, unknown>): void {
  c.tx(() => {
    c.q(UPSERT[table]).run(name, JSON.stringify(def), Date.now());
    writeAdmin(c, actor, action, { name, ...data });
  });
}

function getDefinition<T>(c: SqliteCtx, table: DefinitionTable, name: string): T | null {
  const r = c.q(SELECT[table]).get(name) as Row | undefined;
  return r ? (JSON.parse(r.def as string) as T) : null;
}

function listDefinitions<T>(c: SqliteCtx, table: DefinitionTable): T[] {
  return (c.q(LIST[table]).all() as Row[]).map((r) => JSON.parse(r.def as string) as T);
}

/** Deletes a definition; false (and no audit row) when there was none. */
function deleteDefinition(c: SqliteCtx, table: DefinitionTable, name: string, actor: string, action: string): boolean {
  return c.tx(() => {
    const r = c.q(DELETE[table]).run(name);
    if (Number(r.changes) > 0) writeAdmin(c, actor, action, { name });
    return Number(r.changes) > 0;
  });
}

export function putWorker(c: SqliteCtx, w: WorkerDef, actor: string): void {
  putDefinition(c, 'workers', w.name, w, actor, 'worker:put', { transport: w.transport });
}

export function getWorker(c: SqliteCtx, name: string): WorkerDef | null {
  return getDefinition<WorkerDef>(c, 'workers', name);
}

export function listWorkers(c: SqliteCtx): WorkerDef[] {
  return listDefinitions<WorkerDef>(c, 'workers');
}

export function deleteWorker(c: SqliteCtx, name: string, actor: string): boolean {
  return deleteDefinition(c, 'workers', name, actor, 'worker:delete');
}

export function putTemplate(c: SqliteCtx, t: TemplateDef, actor: string): void {
  putDefinition(c, 'templates', t.name, t, actor, 'template:put', { worker: t.worker });
}

export function getTemplate(c: SqliteCtx, name: string): TemplateDef | null {
  return getDefinition<TemplateDef>(c, 'templates', name);
}

export function listTemplates(c: SqliteCtx): TemplateDef[] {
  return listDefinitions<TemplateDef>(c, 'templates');
}

export function deleteTemplate(c: SqliteCtx, name: string, actor: string): boolean {
  return deleteDefinition(c, 'templates', name, actor, 'template:delete');
}
