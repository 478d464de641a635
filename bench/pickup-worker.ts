/**
 * The no-op worker of examples/noop (server.ts as a push worker, pull.ts as a pull worker: the same SDK calls,
 * options and no-op handler) for the bench's pickup phase, whose handler first notes when it started. A job
 * whose input has `t` (the sender's process.hrtime in ms, taken just before it sent POST /api/queue/enqueue)
 * and `k` (its number) prints `pickup <k> <ms>` on stdout, ms = handler start − t. process.hrtime is
 * CLOCK_MONOTONIC on Linux, one clock for every process on the machine, so the two ends need no syncing.
 * Usage: node bench/pickup-worker.ts push [--port 0]
 *        node bench/pickup-worker.ts pull --url http://127.0.0.1:8787 --token T [--name noop] [--concurrency 50]
 */
import { parseArgs } from 'node:util';
import { defineWorker, runPull, serveHttp } from '../packages/worker/src/index.ts';

const mode = process.argv[2];
const { values } = parseArgs({
  args: process.argv.slice(3),
  options: {
    port: { type: 'string', default: '0' },
    url: { type: 'string', default: 'http://127.0.0.1:8787' },
    token: { type: 'string' },
    name: { type: 'string', default: 'noop' },
    concurrency: { type: 'string', default: '50' },
  },
});

const now = (): number => Number(process.hrtime.bigint()) / 1e6;
const worker = defineWorker({
  name: values.name,
  dedupe: false,
  handler: (job) => {
    const started = now();
    const { t, k } = job.input as { t?: unknown; k?: unknown };
    // Written after the time is taken: the write is not in this job's figure.
    if (typeof t === 'number') process.stdout.write(`pickup ${String(k)} ${(started - t).toFixed(4)}\n`);
    return {};
  },
});

let close: () => Promise<void>;
if (mode === 'push') {
  const server = await serveHttp(worker, { host: '127.0.0.1', port: Number(values.port) });
  console.log(`listening on ${server.url}`);
  close = () => server.close();
} else if (mode === 'pull') {
  if (!values.token) throw new Error('--token is required');
  const runner = runPull(worker, { url: values.url, token: values.token, concurrency: Number(values.concurrency), waitMs: 20_000 });
  console.log(`pulling from ${values.url} as ${values.name}`);
  close = () => runner.stop();
} else {
  throw new Error(`usage: pickup-worker.ts push|pull …, got "${mode}"`);
}
const shutdown = (): void => {
  close().then(() => process.exit(0), () => process.exit(1));
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
