/**
 * A real SDK worker on loopback that answers at once and reports as used
 * exactly the output tokens it was allowed (`parameters.max_tokens`), so that
 * requests keep a bucket drained the way a busy LLM workload does.
 */
import { defineWorker, serveHttp, type HttpWorkerServer } from '../../packages/worker/src/index.ts';

export function startSpender(): Promise<HttpWorkerServer> {
  return serveHttp(
    defineWorker({
      name: 'spender',
      dedupe: false,
      handler: (job, ctx) => {
        ctx.addUsage({ inputTokens: 0, outputTokens: Number(job.parameters.max_tokens ?? 0) });
        return {};
      },
    }),
  );
}
