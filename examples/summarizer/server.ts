// Usage: node examples/summarizer/server.ts [--port 9101] [--host 127.0.0.1] [--delay-ms N] [--fail-rate 0.x] [--token T]
import { parseArgs } from 'node:util';
import { serveHttp } from '../../sdk/worker/index.ts';
import { createSummarizerWorker } from './worker.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.SUMMARIZER_PORT ?? '9101' },
    host: { type: 'string', default: process.env.SUMMARIZER_HOST ?? '127.0.0.1' },
    'delay-ms': { type: 'string', default: process.env.SUMMARIZER_DELAY_MS ?? '0' },
    'fail-rate': { type: 'string', default: process.env.SUMMARIZER_FAIL_RATE ?? '0' },
    token: { type: 'string', default: process.env.ALLOT_WORKER_TOKEN },
  },
});

function numberFlag(name: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) {
    console.error(`--${name} must be a number between ${min} and ${max}, got "${raw}"`);
    process.exit(2);
  }
  return n;
}

const port = numberFlag('port', values.port, 0, 65535);
const worker = createSummarizerWorker({
  delayMs: numberFlag('delay-ms', values['delay-ms'], 0, 3_600_000),
  failRate: numberFlag('fail-rate', values['fail-rate'], 0, 1),
});
const server = await serveHttp(worker, { host: values.host, port, token: values.token });
console.log(`listening on ${server.url}`);

const shutdown = (): void => {
  server.close().then(() => process.exit(0), () => process.exit(1));
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
