/**
 * Real workers for the HTTP tests, served with the SDK's `serveHttp` on
 * ephemeral ports: the summarizer example (twice: prompt and slow) and a
 * small "lab" worker whose behaviour the input chooses (fail, time out,
 * report progress and wait), plus the config file that names them.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createSummarizerWorker } from '../../examples/summarizer/worker.ts';
import { defineWorker, serveHttp, WorkerError, type HttpWorkerServer } from '../../packages/worker/src/index.ts';

export const PRICES = {
  /** llm.mini (model "mini"): separate input and output prices. */
  miniInput: 0.000001,
  miniOutput: 0.000004,
  /** llm.tiny (model "tiny"): one price, a bucket too small for long inputs. */
  tiny: 0.00001,
} as const;

export const TINY_CAPACITY = 300;
/** Tokens a chat model bills per request beyond the text: the default input_overhead_tokens of llm.mini and llm.tiny. */
export const OVERHEAD = 7;
export const SUMMARIZE_MAX_TOKENS = 200;
export const MAX_BODY_BYTES = 4096;

export interface LabInput {
  mode: 'echo' | 'flaky' | 'fatal' | 'slow' | 'gate';
  /** flaky: the attempt that succeeds. @default 3 */
  succeed_on?: number;
  /** slow: how long to work. */
  ms?: number;
  tokens?: { input: number; output: number };
  /** Other resources the job reports it used, e.g. { email: 3 }. */
  resources?: Record<string, number>;
}

/** The lab worker: what it saw, and gates the test opens. */
export class Lab {
  /** Attempts each request arrived with, in order. */
  readonly attempts = new Map<string, number[]>();
  readonly #gates = new Map<string, { reached: PromiseWithResolvers<void>; open: PromiseWithResolvers<void> }>();

  #gate(id: string) {
    let g = this.#gates.get(id);
    if (!g) {
      g = { reached: Promise.withResolvers<void>(), open: Promise.withResolvers<void>() };
      this.#gates.set(id, g);
    }
    return g;
  }

  /** Resolves once a 'gate' job for `id` has reported progress and is waiting. */
  reached(id: string): Promise<void> {
    return this.#gate(id).reached.promise;
  }

  release(id: string): void {
    this.#gate(id).open.resolve();
  }

  readonly worker = defineWorker<LabInput, unknown>({
    name: 'lab',
    handler: async (job, ctx) => {
      const seen = this.attempts.get(job.requestId) ?? [];
      seen.push(job.attempt);
      this.attempts.set(job.requestId, seen);
      const input = job.input;
      if (input.tokens) ctx.addUsage({ inputTokens: input.tokens.input, outputTokens: input.tokens.output });
      if (input.resources) ctx.addUsage({ resources: input.resources });
      switch (input.mode) {
        case 'flaky':
          if (job.attempt < (input.succeed_on ?? 3)) throw new WorkerError('FLAKY', `transient failure on attempt ${job.attempt}`, { retryable: true });
          return { ok: true, attempt: job.attempt };
        case 'fatal':
          throw new WorkerError('BAD_INPUT', 'lab cannot use this input', { retryable: false });
        case 'slow':
          await sleep(input.ms ?? 1000, undefined, { signal: ctx.signal });
          return { slept: input.ms };
        case 'gate': {
          ctx.progress(42, 'halfway');
          const g = this.#gate(job.requestId);
          g.reached.resolve();
          const aborted = new Promise<never>((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }));
          await Promise.race([g.open.promise, aborted]);
          return { released: true };
        }
        default:
          return { echo: input };
      }
    },
  });
}

export interface Workers {
  summarizer: HttpWorkerServer;
  slow: HttpWorkerServer;
  labServer: HttpWorkerServer;
  lab: Lab;
  close(): Promise<void>;
}

export async function startWorkers(): Promise<Workers> {
  const lab = new Lab();
  const [summarizer, slow, labServer] = await Promise.all([
    serveHttp(createSummarizerWorker()),
    serveHttp(createSummarizerWorker({ delayMs: 300 })),
    serveHttp(lab.worker),
  ]);
  return {
    summarizer, slow, labServer, lab,
    close: async () => {
      await Promise.all([summarizer.close(), slow.close(), labServer.close()]);
    },
  };
}

/** The config file the tests write: custom resources, a custom tier, the workers and templates. */
export function baseConfig(w: Workers): Record<string, unknown> {
  return {
    limits: { max_body_bytes: MAX_BODY_BYTES },
    tiers: { startup: { priority_points: 15, max_concurrent: 2, monthly_budget_usd: 50 } },
    resources: {
      // The example workers count with cl100k_base, so Allot counts in it too; "mini" would default to o200k_base.
      'llm.mini': {
        kind: 'tokens', model: 'mini', tokenizer: 'cl100k_base', unit: 'token', capacity: 100_000, refill_per_s: 10_000,
        cost_per_unit_usd: 0.000003, input_cost_per_unit_usd: PRICES.miniInput, output_cost_per_unit_usd: PRICES.miniOutput,
      },
      'llm.tiny': { kind: 'tokens', model: 'tiny', tokenizer: 'cl100k_base', unit: 'token', capacity: TINY_CAPACITY, refill_per_s: 50, cost_per_unit_usd: PRICES.tiny },
    },
    workers: {
      summarizer: { transport: 'http', url: w.summarizer.url },
      'summarizer-slow': { transport: 'http', url: w.slow.url },
      lab: { transport: 'http', url: w.labServer.url, max_concurrency: 20 },
    },
    templates: {
      summarize: { worker: 'summarizer', model: 'mini', max_tokens: SUMMARIZE_MAX_TOKENS, retry: { base_delay_ms: 10 }, description: 'Extractive summary' },
      'summarize-slow': { worker: 'summarizer-slow', model: 'mini', max_tokens: SUMMARIZE_MAX_TOKENS, retry: { base_delay_ms: 10 } },
      'tiny-sum': { worker: 'summarizer', model: 'tiny', max_tokens: 250, retry: { base_delay_ms: 10 } },
      lab: { worker: 'lab', timeout_ms: 5000, max_attempts: 3, retry: { base_delay_ms: 10, max_delay_ms: 40 } },
      'lab-mail': { worker: 'lab', resources: { email: 2 }, retry: { base_delay_ms: 10 } },
      'lab-timeout': { worker: 'lab', timeout_ms: 150, max_attempts: 2, retry: { base_delay_ms: 10, max_delay_ms: 20 } },
    },
  };
}

export const ARTICLE =
  'Battery storage is changing the grid. Cheap battery storage lets the grid absorb solar surges, and battery storage ' +
  'projects now outnumber gas plants in the queue. Critics note that permitting is slow. Still, battery storage on the grid ' +
  'doubled last year. The weather stayed mild.';
