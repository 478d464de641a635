/**
 * `npm run bench:migrate [--requests=500] [--concurrency=16] [--latency-ms=50]`:
 * Allot against the Orchestrator v2 baseline, reproducibly. Starts the v2
 * stand-in (examples/v2-orchestrator), the example summarizer and Allot as
 * separate processes on loopback, each unit of work taking the same
 * `--latency-ms` in both systems, then runs `allot migrate compare` and
 * prints its p50/p95/p99 latency and cost for each.
 *
 * The stand-in does its work in memory, so this measures what Allot adds
 * (durable commits, scheduling, one more HTTP hop to a worker), not a real v2.
 */
import { migrateCompare } from '../../src/migrate/compare-cli.ts';
import { allotFiles, createClient, startAllot, startWorker } from '../../test/e2e/harness.ts';

const arg = (name: string, dflt: string): string => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const requests = arg('requests', '500');
const concurrency = arg('concurrency', '16');
const latencyMs = arg('latency-ms', '50');

const v2 = await startWorker('examples/v2-orchestrator/server.ts', ['--latency-ms', latencyMs, '--concurrency', '64']);
const summarizer = await startWorker('examples/summarizer/server.ts', ['--delay-ms', latencyMs]);
const files = allotFiles({
  // The same prices as the stand-in's defaults ($0.000001 in, $0.000003 out per token), so costs are comparable.
  resources: {
    'bench-llm': { kind: 'tokens', model: 'bench-llm', unit: 'token', capacity: 1_000_000, refill_per_s: 1_000_000, cost_per_unit_usd: 0.000002, input_cost_per_unit_usd: 0.000001, output_cost_per_unit_usd: 0.000003 },
  },
  workers: { summarizer: { transport: 'http', url: summarizer.url, max_concurrency: 64 } },
  templates: { summarize: { worker: 'summarizer', model: 'bench-llm', max_tokens: 120, timeout_ms: 30_000 } },
});
const allot = await startAllot(files);
try {
  const client = await createClient(allot, 'bench', 'enterprise');
  process.stdout.write(`\nAllot against the Orchestrator v2 stand-in: each request's work takes ${latencyMs} ms in both (2 shared cores; noisy)\n`);
  const code = await migrateCompare({ v2: v2.url, allot: allot.url, 'allot-key': client.key, requests, concurrency, template: 'summarize', 'timeout-ms': '60000' });
  process.exitCode = code;
} finally {
  await allot.stop();
  await v2.proc.stop();
  await summarizer.proc.stop();
}
