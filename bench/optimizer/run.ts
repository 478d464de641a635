/**
 * `npm run bench:optimizer [--n=400]`: the reference workload (workload.ts)
 * with the optimizer off, then on; prints both and checks the savings
 * ledger against the measured differences.
 */
import { runWorkload } from './workload.ts';

const N = Number(process.argv.find((a) => a.startsWith('--n='))?.slice(4) ?? 400);
const off = await runWorkload(N, false);
const on = await runWorkload(N, true);
const f = (v: number, d = 0) => v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const rows: [string, string, string][] = [
  ['requests completed', f(off.completed), f(on.completed)],
  ['cost (USD)', f(off.costUsd, 6), f(on.costUsd, 6)],
  ['worker calls', f(off.calls), f(on.calls)],
  ['payload bytes stored', f(off.bytesStored), f(on.bytesStored)],
  ['latency p50 (ms)', f(off.p50, 2), f(on.p50, 2)],
  ['latency p99 (ms)', f(off.p99, 2), f(on.p99, 2)],
];
process.stdout.write(`\nOptimizer reference workload: ${N} requests from 3 clients (SDK worker on loopback, SQLite file)\n`);
process.stdout.write(`  ${'metric'.padEnd(22)} ${'optimizer off'.padStart(16)} ${'optimizer on'.padStart(16)}\n`);
for (const [m, a, b] of rows) process.stdout.write(`  ${m.padEnd(22)} ${a.padStart(16)} ${b.padStart(16)}\n`);
const measured = { usd: off.costUsd - on.costUsd, calls: off.calls - on.calls, bytes: off.bytesStored - on.bytesStored };
const agree = (ledger: number, diff: number) => (diff === 0 ? ledger === 0 : Math.abs(ledger - diff) / Math.abs(diff) <= 0.01);
process.stdout.write(`\nSaved by strategy (ledger, USD): ${Object.entries(on.byStrategy).map(([k, v]) => `${k} ${v.toFixed(6)}`).join(', ')}\n`);
process.stdout.write('\nSavings ledger against the measured difference (off − on):\n');
for (const [name, l, m, d] of [['dollars', on.ledger.usd, measured.usd, 6], ['worker calls', on.ledger.calls, measured.calls, 0], ['bytes', on.ledger.bytes, measured.bytes, 0]] as const) {
  process.stdout.write(`  ${name.padEnd(14)} ledger ${f(l, d).padStart(12)}   measured ${f(m, d).padStart(12)}   ${agree(l, m) ? 'agree within 1%' : 'DIFFER by more than 1%'}\n`);
}
