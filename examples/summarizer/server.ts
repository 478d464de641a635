// Usage: node examples/summarizer/server.ts [--port 9101] [--host 127.0.0.1] [--delay-ms N] [--fail-rate 0.x] [--token T]
//          [--v2-orchestrator URL --v2-token T [--v2-name NAME]]   (also serve the Orchestrator 2.0 endpoints)
import { parseArgs } from 'node:util';
import { serveHttp } from '../../packages/worker/src/index.ts';
import { createSummarizerWorker } from './worker.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.SUMMARIZER_PORT ?? '9101' },
    host: { type: 'string', default: process.env.SUMMARIZER_HOST ?? '127.0.0.1' },
    'delay-ms': { type: 'string', default: process.env.SUMMARIZER_DELAY_MS ?? '0' },
    'fail-rate': { type: 'string', default: process.env.SUMMARIZER_FAIL_RATE ?? '0' },
    token: { type: 'string', default: process.env.ALLOT_WORKER_TOKEN },
    'v2-orchestrator': { type: 'string', default: process.env.SUMMARIZER_V2_ORCHESTRATOR },
    'v2-token': { type: 'string', default: process.env.SUMMARIZER_V2_TOKEN },
    'v2-name': { type: 'string' },
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
const v2Url = values['v2-orchestrator'];
if (v2Url !== undefined && !values['v2-token']) {
  console.error('--v2-orchestrator needs --v2-token (the worker token the orchestrator knows this worker by)');
  process.exit(2);
}
const v2 = v2Url === undefined ? undefined : { orchestratorUrl: v2Url, token: values['v2-token'] as string, workerName: values['v2-name'] ?? worker.name };
const server = await serveHttp(worker, { host: values.host, port, token: values.token, v2 });
console.log(`listening on ${server.url}`);

const shutdown = (): void => {
  server.close().then(() => process.exit(0), () => process.exit(1));
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
