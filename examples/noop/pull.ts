// The no-op worker as a pull worker: it asks Allot for work instead of serving HTTP.
// Usage: node examples/noop/pull.ts --url http://127.0.0.1:8787 --token <the worker's token> [--name noop] [--concurrency 50]
// Work: none (sleeps input.sleep_ms if given), like examples/noop/server.ts.
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { defineWorker, runPull } from '../../packages/worker/src/index.ts';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: process.env.ALLOT_URL ?? 'http://127.0.0.1:8787' },
    token: { type: 'string', default: process.env.ALLOT_WORKER_TOKEN },
    name: { type: 'string', default: 'noop' },
    concurrency: { type: 'string', default: '50' },
  },
});
if (!values.token) {
  console.error('--token is required (the token the worker was registered with)');
  process.exit(2);
}
const concurrency = Number(values.concurrency);
if (!Number.isInteger(concurrency) || concurrency < 1) {
  console.error(`--concurrency must be a positive integer, got "${values.concurrency}"`);
  process.exit(2);
}

const worker = defineWorker({
  name: values.name,
  dedupe: false,
  handler: (job, ctx) => {
    const ms = Number((job.input as { sleep_ms?: unknown }).sleep_ms ?? 0);
    if (!(ms > 0)) return {};
    return sleep(ms, {}, { signal: ctx.signal });
  },
});
const runner = runPull(worker, { url: values.url, token: values.token, concurrency, waitMs: 20_000 });
console.log(`pulling from ${values.url} as ${values.name}`);

const shutdown = (): void => {
  runner.stop().then(() => process.exit(0), () => process.exit(1));
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
