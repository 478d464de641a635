// Usage: node examples/keywords/worker.ts                          (subprocess: one job on stdin, NDJSON on stdout)
//        node examples/keywords/worker.ts --http [--port 9102] [--host 127.0.0.1] [--token T]
import { parseArgs } from 'node:util';
import { WorkerError, defineWorker, runSubprocess, serveHttp } from '../../packages/worker/src/index.ts';
import type { Worker } from '../../packages/worker/src/index.ts';
import { extractKeywords, fitToTokens, keywordText, tokenCount } from './rake.ts';
import type { Keyword } from './rake.ts';

export interface KeywordsInput {
  text: string;
  limit?: number;
}

const MAX_LIMIT = 1_000;

/** RAKE keyword extraction as an SDK worker. */
export function createKeywordsWorker(): Worker {
  return defineWorker<KeywordsInput, { keywords: Keyword[] }>({
    name: 'keywords',
    handler(job, ctx) {
      const { text, limit = 10 } = job.input;
      if (typeof text !== 'string') throw WorkerError.invalidInput('input.text must be a string');
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
        throw WorkerError.invalidInput(`input.limit must be an integer between 1 and ${MAX_LIMIT}`);
      }
      ctx.progress(10, 'reading text');
      ctx.addUsage({ inputTokens: tokenCount(text) });

      ctx.progress(50, 'scoring phrases');
      let keywords = extractKeywords(text, limit);
      const maxTokens = job.parameters.max_tokens;
      if (maxTokens !== undefined) keywords = fitToTokens(keywords, maxTokens);
      ctx.addUsage({ outputTokens: tokenCount(keywordText(keywords)) });
      ctx.progress(100, 'done');
      return { keywords };
    },
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      http: { type: 'boolean', default: false },
      port: { type: 'string', default: process.env.KEYWORDS_PORT ?? '9102' },
      host: { type: 'string', default: process.env.KEYWORDS_HOST ?? '127.0.0.1' },
      token: { type: 'string', default: process.env.ALLOT_WORKER_TOKEN },
    },
  });
  const worker = createKeywordsWorker();
  if (!values.http) {
    await runSubprocess(worker);
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`--port must be an integer between 0 and 65535, got "${values.port}"`);
    process.exit(2);
  }
  const server = await serveHttp(worker, { host: values.host, port, token: values.token });
  console.log(`listening on ${server.url}`);
  const shutdown = (): void => {
    server.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

if (import.meta.main) await main();
