// Usage: node examples/noop/server.ts [--port 9100] [--host 127.0.0.1] [--token T]
// Answers every job at once with output {} and zero usage: a baseline for benchmarking Allot's own overhead.
// A job whose input has `sleep_ms` waits that long first (until its deadline aborts it): for timeout tests.
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { defineWorker, serveHttp } from '../../packages/worker/src/index.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.NOOP_PORT ?? '9100' },
    host: { type: 'string', default: process.env.NOOP_HOST ?? '127.0.0.1' },
    token: { type: 'string', default: process.env.ALLOT_WORKER_TOKEN },
  },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port must be an integer between 0 and 65535, got "${values.port}"`);
  process.exit(2);
}

// Dedupe off: benchmark jobs are unique, and the cache would only add bookkeeping to the measured path.
const worker = defineWorker({
  name: 'noop',
  dedupe: false,
  handler: (job, ctx) => {
    const ms = Number((job.input as { sleep_ms?: unknown }).sleep_ms ?? 0);
    if (!(ms > 0)) return {};
    return sleep(ms, {}, { signal: ctx.signal });
  },
});
const server = await serveHttp(worker, { host: values.host, port, token: values.token });
console.log(`listening on ${server.url}`);

const shutdown = (): void => {
  server.close().then(() => process.exit(0), () => process.exit(1));
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
