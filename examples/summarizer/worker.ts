import { setTimeout as sleep } from 'node:timers/promises';
import { WorkerError, defineWorker } from '../../packages/worker/src/index.ts';
import type { Worker } from '../../packages/worker/src/index.ts';
import { summarize, tokenCount } from './summarize.ts';
import type { SummaryResult } from './summarize.ts';

export interface SummarizerInput {
  text: string;
  sentences?: number;
}

export interface SummarizerOptions {
  /** Simulated extra work per job, abortable by the job's deadline. */
  delayMs?: number;
  /** Probability (0-1) of answering a retryable failure instead of working, for retry tests. */
  failRate?: number;
}

const MAX_SENTENCES = 1_000;

/** The extractive summarizer as an SDK worker. */
export function createSummarizerWorker(opts: SummarizerOptions = {}): Worker {
  const delayMs = opts.delayMs ?? 0;
  const failRate = opts.failRate ?? 0;
  return defineWorker<SummarizerInput, SummaryResult>({
    name: 'summarizer',
    async handler(job, ctx) {
      const { text, sentences = 3 } = job.input;
      if (typeof text !== 'string') throw WorkerError.invalidInput('input.text must be a string');
      if (!Number.isSafeInteger(sentences) || sentences < 1 || sentences > MAX_SENTENCES) {
        throw WorkerError.invalidInput(`input.sentences must be an integer between 1 and ${MAX_SENTENCES}`);
      }
      if (failRate > 0 && Math.random() < failRate) {
        throw new WorkerError('SIMULATED_FAILURE', 'simulated transient failure (--fail-rate)', { retryable: true });
      }

      ctx.progress(10, 'reading text');
      ctx.addUsage({ inputTokens: tokenCount(text) });
      if (delayMs > 0) await sleep(delayMs, undefined, { signal: ctx.signal });

      ctx.progress(60, 'scoring sentences');
      const result = summarize(text, sentences, job.parameters.max_tokens);
      ctx.addUsage({ outputTokens: tokenCount(result.summary) });
      ctx.metadata.sentence_count = result.sentences.length;
      ctx.progress(100, 'done');
      return result;
    },
  });
}
