/**
 * `allot migrate compare --v2 <url> --allot <url> [--requests N] [--concurrency C] [--template T] [--mix FILE] [--json]`:
 * the performance baseline (SPEC section 9). Replays the same request mix
 * against Orchestrator v2 and then Allot (one after the other, so they do
 * not compete for the machine) and prints p50/p95/p99 latency and cost for
 * each. Allot's client key comes from ALLOT_API_KEY (or --allot-key), v2's
 * token from ALLOT_LEGACY_TOKEN (or --v2-token).
 * Exit codes: 0 every request of both runs completed; 3 some failed; 2 bad arguments.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { generatedMix, replay, stats, type MixItem, type Stats, type Target } from './replay.ts';

const USAGE = `Usage: allot migrate compare --v2 <url> --allot <url> [--requests 100] [--concurrency 8] [--template summarize]
                             [--mix file.json] [--allot-key KEY] [--v2-token T] [--timeout-ms 60000] [--json]
  --mix: a JSON array of { "template", "input", "parameters"? }, replayed in order (cycled to --requests)
`;

function readMix(file: string): MixItem[] {
  const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
  if (!Array.isArray(v) || v.length === 0) throw new Error(`${file}: must hold a non-empty JSON array`);
  return v.map((x: unknown, i) => {
    const o = x as Partial<MixItem> | null;
    if (!o || typeof o.template !== 'string' || !o.input || typeof o.input !== 'object') throw new Error(`${file}[${i}]: needs "template" (string) and "input" (object)`);
    return { template: o.template, input: o.input, parameters: o.parameters };
  });
}

const ms = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(1)} ms` : 'n/a');
const usd = (n: number): string => `$${Number.isFinite(n) ? n.toFixed(8).replace(/0+$/, '').replace(/\.$/, '.0') : 'n/a'}`;

export function formatLine(name: string, s: Stats): string {
  const systems = Object.keys(s.systems).length > 1 || (name === 'allot' && s.systems.v2) ? `  ran in: ${Object.entries(s.systems).map(([k, v]) => `${k} ${v}`).join(', ')}` : '';
  return `${name.padEnd(6)} p50 ${ms(s.p50).padStart(10)}  p95 ${ms(s.p95).padStart(10)}  p99 ${ms(s.p99).padStart(10)}  mean ${ms(s.meanMs).padStart(10)}  cost total ${usd(s.totalCostUsd)} mean ${usd(s.meanCostUsd)}  (${s.ok} ok, ${s.failed} failed)${systems}\n`;
}

/** The command line's values, as given (numbers are checked here, so a bad one is named with its flag). */
export interface CompareArgs {
  readonly v2?: string | undefined;
  readonly allot?: string | undefined;
  readonly requests: string;
  readonly concurrency: string;
  readonly template: string;
  readonly mix?: string | undefined;
  readonly 'allot-key'?: string | undefined;
  readonly 'v2-token'?: string | undefined;
  readonly 'timeout-ms': string;
  readonly json?: boolean | undefined;
}

export async function migrateCompare(values: CompareArgs): Promise<number> {
  const n = Number(values.requests);
  const c = Number(values.concurrency);
  const timeoutMs = Number(values['timeout-ms']);
  const key = values['allot-key'] ?? process.env.ALLOT_API_KEY;
  const problems = [
    !values.v2 && '--v2 <url> is required',
    !values.allot && '--allot <url> is required',
    !key && 'an Allot client API key is required (ALLOT_API_KEY or --allot-key)',
    !(Number.isInteger(n) && n >= 1 && n <= 1_000_000) && `--requests must be an integer from 1 to 1000000, got "${values.requests}"`,
    !(Number.isInteger(c) && c >= 1 && c <= 1000) && `--concurrency must be an integer from 1 to 1000, got "${values.concurrency}"`,
    !(Number.isFinite(timeoutMs) && timeoutMs > 0) && `--timeout-ms must be a positive number, got "${values['timeout-ms']}"`,
  ].filter(Boolean);
  if (problems.length) {
    process.stderr.write(`${problems.map((p) => `allot migrate compare: ${p}`).join('\n')}\n${USAGE}`);
    return 2;
  }
  let items: MixItem[];
  try {
    const base = values.mix ? readMix(values.mix) : generatedMix(values.template, n);
    items = Array.from({ length: n }, (_, i) => base[i % base.length] as MixItem);
  } catch (err) {
    process.stderr.write(`allot migrate compare: ${(err as Error).message}\n`);
    return 2;
  }
  const o = { concurrency: c, timeoutMs, pollMs: 20, runId: randomUUID().slice(0, 8) };
  const v2: Target = { name: 'v2', url: values.v2 as string, key: values['v2-token'] ?? process.env.ALLOT_LEGACY_TOKEN };
  const allot: Target = { name: 'allot', url: values.allot as string, key };
  const results: Record<string, Stats> = {};
  const errors: string[] = [];
  for (const t of [v2, allot]) {
    const samples = await replay(t, items, o);
    results[t.name] = stats(samples);
    for (const s of samples) if (s.error && errors.length < 5) errors.push(`${t.name}: ${s.error}`);
  }
  const a = results.allot as Stats;
  const b = results.v2 as Stats;
  if (values.json) process.stdout.write(`${JSON.stringify({ requests: n, concurrency: c, mix: values.mix ?? `generated:${values.template}`, results }, null, 2)}\n`);
  else {
    process.stdout.write(`Replayed ${n} requests (${values.mix ? `mix ${values.mix}` : `template ${values.template}`}) against each system, ${c} at a time; latency is submit → result.\n\n`);
    process.stdout.write(formatLine('v2', b) + formatLine('allot', a));
    const ratio = (x: number, y: number): string => (Number.isFinite(x) && Number.isFinite(y) && y > 0 ? `${(x / y).toFixed(2)}×` : 'n/a');
    process.stdout.write(`\nAllot's latency as a multiple of v2's (below 1: Allot is faster): p50 ${ratio(a.p50, b.p50)}, p95 ${ratio(a.p95, b.p95)}, p99 ${ratio(a.p99, b.p99)}\n`);
    for (const e of errors) process.stdout.write(`  e.g. ${e}\n`);
  }
  return a.failed + b.failed === 0 ? 0 : 3;
}
