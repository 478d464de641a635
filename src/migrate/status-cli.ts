/**
 * `allot migrate status [--url http://127.0.0.1:8787] [--json]`: the
 * rollout, shadow differences and progress of a running Allot
 * (GET /admin/migration and /admin/migration/shadow, with ALLOT_ADMIN_KEY).
 * Exit codes: 0 shown; 1 the server could not be reached or refused; 2 bad arguments.
 */

const USAGE = 'Usage: allot migrate status [--url http://127.0.0.1:8787] [--json]   (admin key in ALLOT_ADMIN_KEY)\n';

interface Status {
  legacy_url: string | null;
  mode: string;
  rollout_percent: number;
  shadow: boolean;
  shadow_percent: number;
  shadowing: boolean;
  rollback: boolean;
  rolled_back_at: string | null;
  updated_at: string | null;
  source: string;
  new_requests_to_allot_percent: number;
  requests: Record<'allot' | 'v2' | 'shadow_copies', Record<string, number>>;
  progress: { total: number; allot: number; v2: number; allot_share: number | null; in_flight: Record<string, number> };
  shadow_results: { total: number; with_differences: number; by_field: Record<string, number>; comparing: number };
}

interface ShadowRow {
  request_id: string;
  template: string;
  primary: string;
  differences: string[];
  at: string;
  allot: { status: string; cost_usd: number; latency_ms: number | null };
  v2: { status: string; cost_usd: number; latency_ms: number | null };
}

const states = (c: Record<string, number>): string => Object.entries(c).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';

export function formatStatus(s: Status, recent: readonly ShadowRow[]): string {
  const lines: string[] = [];
  lines.push(`Orchestrator v2: ${s.legacy_url ?? 'not configured (everything runs in Allot)'}`);
  const routing = s.rollback
    ? `ROLLED BACK at ${s.rolled_back_at}: all new requests go to v2 (mode ${s.mode}${s.mode === 'rollout' ? ` ${s.rollout_percent}%` : ''} resumes on POST /admin/migration/resume)`
    : `mode ${s.mode}: ${s.new_requests_to_allot_percent}% of new requests run in Allot, ${100 - s.new_requests_to_allot_percent}% in v2`;
  lines.push(`Routing:  ${routing}  [${s.source}${s.updated_at ? `, changed ${s.updated_at}` : ''}]`);
  const sr = s.shadow_results;
  const fields = Object.entries(sr.by_field).map(([k, v]) => `${k} ${v}`).join(', ');
  lines.push(`Shadow:   ${s.shadowing ? `on${s.shadow_percent < 100 ? ` for ${s.shadow_percent}% of requests` : ''}` : s.shadow ? 'on, paused by the rollback' : 'off'}; ${sr.total} compared, ${sr.with_differences} with differences${fields ? ` (${fields})` : ''}${sr.comparing ? `, ${sr.comparing} comparing now` : ''}`);
  const p = s.progress;
  const share = p.allot_share === null ? '' : ` (${(p.allot_share * 100).toFixed(1)}% in Allot)`;
  lines.push(`Progress: ${p.total} requests: Allot ${p.allot}, v2 ${p.v2}${share}; in flight: Allot ${p.in_flight.allot ?? 0}, v2 ${p.in_flight.v2 ?? 0}, shadow copies ${p.in_flight.shadow_copies ?? 0}`);
  lines.push(`  allot: ${states(s.requests.allot)}`);
  lines.push(`  v2:    ${states(s.requests.v2)}`);
  if (Object.values(s.requests.shadow_copies).some((v) => v > 0)) lines.push(`  shadow copies in Allot: ${states(s.requests.shadow_copies)}`);
  if (recent.length) {
    lines.push('Recent differences (newest first):');
    for (const r of recent) {
      const side = (x: ShadowRow['allot']): string => `${x.status} $${x.cost_usd} ${x.latency_ms === null ? '?' : Math.round(x.latency_ms)} ms`;
      lines.push(`  ${r.request_id}  ${r.template}  primary ${r.primary}  differs in ${r.differences.join(', ')}  (allot: ${side(r.allot)}; v2: ${side(r.v2)})`);
    }
  }
  return `${lines.join('\n')}\n`;
}

export async function migrateStatus(values: { readonly url?: string | undefined; readonly json?: boolean | undefined }): Promise<number> {
  const base = values.url ?? process.env.ALLOT_URL ?? `http://127.0.0.1:${process.env.ALLOT_PORT || 8787}`;
  const key = process.env.ALLOT_ADMIN_KEY;
  if (!key) {
    process.stderr.write(`allot migrate status: set ALLOT_ADMIN_KEY to the admin key\n${USAGE}`);
    return 2;
  }
  const get = async (path: string): Promise<unknown> => {
    const res = await fetch(new URL(path, base), { headers: { authorization: `Bearer ${key}` } });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
    return JSON.parse(text);
  };
  try {
    const { migration } = (await get('/admin/migration')) as { migration: Status };
    const { results } = (await get('/admin/migration/shadow?differences_only=true&limit=10')) as { results: ShadowRow[] };
    process.stdout.write(values.json ? `${JSON.stringify({ ...migration, recent_differences: results }, null, 2)}\n` : formatStatus(migration, results));
    return 0;
  } catch (err) {
    process.stderr.write(`allot migrate status: ${base}: ${(err as Error).cause ? String((err as Error).cause) : (err as Error).message}\n`);
    return 1;
  }
}
