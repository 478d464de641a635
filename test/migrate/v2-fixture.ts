/**
 * An Orchestrator v2 database built by tests: the supported tables (README,
 * "Migrating from Orchestrator v2") written as a D1-style SQL dump, which is
 * also executed into a SQLite file so both kinds of source hold the same rows.
 */
import { DatabaseSync } from 'node:sqlite';

export type V2Value = string | number | null;
export type V2Row = Record<string, V2Value>;

export interface V2Data {
  readonly workers: V2Row[];
  readonly templates: V2Row[];
  readonly executions: V2Row[];
}

const CREATE = {
  worker_registry: `CREATE TABLE worker_registry (
  worker_name TEXT PRIMARY KEY, worker_url TEXT NOT NULL, status TEXT DEFAULT 'active', capabilities TEXT,
  protocol_version TEXT DEFAULT '1.0', supports_handshake BOOLEAN DEFAULT false, supports_streaming BOOLEAN DEFAULT false,
  max_concurrent_executions INTEGER DEFAULT 10, avg_execution_time_ms INTEGER)`,
  pipeline_templates: `CREATE TABLE pipeline_templates (
  template_name TEXT PRIMARY KEY, display_name TEXT, stages TEXT NOT NULL, is_active INTEGER DEFAULT 1)`,
  // No primary key: a dump may carry anything, and the import must cope.
  pipeline_executions: `CREATE TABLE pipeline_executions (
  execution_id TEXT, template_name TEXT, client_id TEXT, status TEXT, priority TEXT, input TEXT, output TEXT,
  cost_usd REAL, created_at TEXT DEFAULT CURRENT_TIMESTAMP, started_at TEXT, completed_at TEXT)`,
} as const;

const COLUMNS = {
  worker_registry: ['worker_name', 'worker_url', 'status', 'capabilities', 'protocol_version', 'supports_handshake', 'supports_streaming', 'max_concurrent_executions', 'avg_execution_time_ms'],
  pipeline_templates: ['template_name', 'display_name', 'stages', 'is_active'],
  pipeline_executions: ['execution_id', 'template_name', 'client_id', 'status', 'priority', 'input', 'output', 'cost_usd', 'created_at', 'started_at', 'completed_at'],
} as const;

function literal(v: V2Value | undefined): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'number') return String(v);
  return `'${v.replaceAll("'", "''")}'`;
}

/** The rows as `wrangler d1 export` writes them. */
export function v2Dump(d: V2Data): string {
  const out = ['PRAGMA defer_foreign_keys=TRUE;'];
  const tables: [keyof typeof CREATE, V2Row[]][] = [['worker_registry', d.workers], ['pipeline_templates', d.templates], ['pipeline_executions', d.executions]];
  for (const [t, rows] of tables) {
    out.push(`${CREATE[t]};`);
    for (const r of rows) out.push(`INSERT INTO "${t}" VALUES(${COLUMNS[t].map((c) => literal(r[c])).join(',')});`);
  }
  return `${out.join('\n')}\n`;
}

/** Write the rows as a SQLite database file. */
export function writeV2Sqlite(path: string, d: V2Data): void {
  const db = new DatabaseSync(path);
  try {
    db.exec(v2Dump(d));
  } finally {
    db.close();
  }
}
