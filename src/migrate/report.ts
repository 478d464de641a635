/** The validation report as text for people (the JSON form is the ImportReport itself). */
import type { ImportReport } from './import.ts';
import { V2_TABLES } from './mapping.ts';

/** Rows listed per section of the text report; the JSON report lists all. */
const LIST_LIMIT = 50;

const pad = (s: string | number, n: number): string => String(s).padEnd(n);
const num = (s: string | number, n: number): string => String(s).padStart(n);

function listed<T>(items: readonly T[], line: (x: T) => string): string[] {
  const out = items.slice(0, LIST_LIMIT).map((x) => `  ${line(x)}`);
  if (items.length > LIST_LIMIT) out.push(`  … and ${items.length - LIST_LIMIT} more (see --json)`);
  return out;
}

export function formatReport(r: ImportReport): string {
  const would = r.dry_run;
  const out: string[] = [];
  out.push(`Orchestrator v2 import from ${r.source.label} (${r.source.kind === 'sqlite' ? 'SQLite database' : 'SQL dump'})`);
  if (would) out.push('DRY RUN: nothing was written. Counts are what the import would do.');
  out.push('');
  out.push(`${pad('table', 22)}${num('read', 6)}${num(would ? 'would create' : 'created', 14)}${num('unchanged', 11)}${num('updated', 9)}${num('malformed', 11)}${num('conflicts', 11)}`);
  for (const t of V2_TABLES) {
    const x = r.tables[t];
    if (!x.present) {
      out.push(`${pad(t, 22)}  (not in the source)`);
      continue;
    }
    out.push(`${pad(t, 22)}${num(x.read, 6)}${num(x.created, 14)}${num(x.unchanged, 11)}${num(x.updated, 9)}${num(x.malformed, 11)}${num(x.conflicts, 11)}`);
  }
  const by = (t: 'worker_registry' | 'pipeline_templates'): string => Object.entries(r.tables[t].by_status).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  out.push(`  workers by v2 status: ${by('worker_registry')}; templates: ${by('pipeline_templates')}`);
  out.push('');
  out.push('Executions by status');
  out.push(`  ${pad('v2 status', 11)}${pad('Allot state', 13)}${num('source', 7)}${num('in Allot', 10)}`);
  for (const s of r.statuses) out.push(`  ${pad(s.v2_status, 11)}${pad(s.allot_state, 13)}${num(s.source, 7)}${num(s.allot, 10)}`);
  out.push(`  taken over by Allot (queued): ${r.taken_over}; left to v2 and tracked (building, running): ${r.left_to_v2}`);
  const h = r.history_cost_usd;
  out.push(`  cost of finished work: source $${h.source.toFixed(6)}, Allot $${h.allot.toFixed(6)} (${h.match ? 'match' : 'DIFFER'})`);
  out.push('');
  out.push('Checksums (SHA-256 of the valid rows as mapped, sorted by key; source / what Allot holds for the same keys)');
  for (const t of V2_TABLES) {
    const c = r.tables[t].checksum;
    out.push(`  ${pad(t, 20)} ${num(c.rows, 6)} rows  ${c.source.slice(0, 16)}  ${c.allot.slice(0, 16)}  ${c.match ? 'match' : 'DIFFER'}`);
  }
  if (r.clients_created.length || r.clients_existing) {
    out.push('');
    out.push(`Clients: ${r.clients_existing} already in Allot, ${r.clients_created.length} ${would ? 'would be created' : 'created'}`);
    if (!would && r.clients_created.length) out.push('  API keys are shown once; store them now:');
    out.push(...listed(r.clients_created, (x) => `${x.id} (tier ${x.tier})${x.api_key ? `  ${x.api_key}` : ''}`));
  }
  if (r.malformed.length) {
    out.push('');
    out.push(`Malformed rows (${r.malformed.length}, not imported)`);
    out.push(...listed(r.malformed, (x) => `${x.table} ${x.key}: ${x.reason}`));
  }
  if (r.conflicts.length) {
    out.push('');
    out.push(`Conflicts (${r.conflicts.length})`);
    out.push(...listed(r.conflicts, (x) => `${x.table} ${x.key}: ${x.reason}`));
  }
  if (r.differences.length) {
    out.push('');
    out.push(`Present in Allot but different from the source (${r.differences.length}; Allot's kept)`);
    out.push(...listed(r.differences, (x) => `${x.table} ${x.key}: ${x.fields.join(', ')}`));
  }
  out.push('');
  out.push(r.ok ? (would ? 'Every row is valid and would be imported.' : 'Every row was valid and is in Allot.') : 'Some rows need attention (above).');
  return `${out.join('\n')}\n`;
}
