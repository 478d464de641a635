/**
 * The byte-heavy part of admitting an input, without stalling the server:
 * counting its tokens and serializing it for storage. Small inputs (most
 * requests) are counted inline: a few hundred microseconds. Large ones go to
 * worker threads, so that a client sending megabyte inputs delays only its
 * own submissions: the threads take waiting inputs from each client in turn
 * (round robin), and one client may have at most `maxPendingCharsPerClient`
 * characters waiting (beyond that, 503 QUEUE_BACKUP with Retry-After), the
 * server at most `maxPendingChars`.
 */
import { Worker } from 'node:worker_threads';
import { AllotError } from '../core/errors.ts';
import { jsonSize } from '../config/bounds.ts';
import { countTokens, inputText, type Encoding } from './tokenizer.ts';

export interface TokenCounterOptions {
  /** Inputs of up to this many characters are handled on the event loop. @default 4096 */
  readonly inlineChars?: number;
  /** Worker threads for longer ones. @default 1 */
  readonly threads?: number;
  /** Characters of one client's inputs waiting or being handled. @default 16 Mi */
  readonly maxPendingCharsPerClient?: number;
  /** Characters waiting or being handled, all clients. @default 64 Mi */
  readonly maxPendingChars?: number;
  /** Serialized inputs of at least this many bytes are also compressed (zstd), as the store would; 0: never. @default 4096 */
  readonly compressMinBytes?: number;
}

/** What measuring an input found. */
export interface Measured {
  /** Tokens of its text in the encoding asked for (0 without one). */
  readonly tokens: number;
  /** The input as UTF-8 JSON, when it was serialized off the event loop (a large input). */
  readonly json?: Uint8Array | undefined;
  /** That JSON zstd-compressed, when it is at least compressMinBytes long. */
  readonly zstd?: Uint8Array | undefined;
}

interface Job {
  readonly id: number;
  readonly owner: string;
  readonly input: unknown;
  readonly chars: number;
  readonly encoding: Encoding | null;
  readonly serialize: boolean;
  readonly resolve: (m: Measured) => void;
  readonly reject: (e: Error) => void;
}

interface Thread {
  readonly worker: Worker;
  job: Job | null;
}

const Mi = 1024 * 1024;

export class TokenCounter {
  readonly #inline: number;
  readonly #threads: number;
  readonly #perClient: number;
  readonly #total: number;
  readonly #compressMin: number;
  readonly #pool: Thread[] = [];
  /** Each client's waiting inputs, oldest first. */
  readonly #waiting = new Map<string, Job[]>();
  /** When each client with inputs pending was last given a thread (a sequence number): the longest unserved goes next. */
  readonly #lastServed = new Map<string, number>();
  #turn = 0;
  readonly #pendingChars = new Map<string, number>();
  #pendingTotal = 0;
  #nextId = 1;
  #closed = false;
  /** Inputs measured so far and their characters, by where: on the event loop (small ones) or on a thread. */
  readonly measured: Record<'inline' | 'thread', { inputs: number; chars: number }> = { inline: { inputs: 0, chars: 0 }, thread: { inputs: 0, chars: 0 } };

  constructor(opts: TokenCounterOptions = {}) {
    this.#inline = opts.inlineChars ?? 4096;
    this.#threads = Math.max(1, opts.threads ?? 1);
    this.#perClient = opts.maxPendingCharsPerClient ?? 16 * Mi;
    this.#total = opts.maxPendingChars ?? 64 * Mi;
    this.#compressMin = opts.compressMinBytes ?? 4096;
  }

  /** Whether measuring an input of about `chars` characters of JSON goes to a thread (and may wait its turn). */
  large(chars: number): boolean {
    return !this.#closed && chars > this.#inline;
  }

  /** Tokens in `text`, counted for `owner` (a client id: whose turn it is when counting waits). */
  async count(owner: string, text: string, encoding: Encoding): Promise<number> {
    if (text.length <= this.#inline) {
      this.#note('inline', text.length);
      return countTokens(text, encoding);
    }
    return (await this.measure(owner, text, encoding, false)).tokens;
  }

  /**
   * An input's tokens (its text in `encoding`; none without one) and, for a
   * large input, its JSON: worked out on a thread, in turn with other
   * clients. Throws QUEUE_BACKUP when too much of that client's input, or of
   * everyone's, is waiting.
   */
  /** @param size about how many characters of JSON `input` has, when the caller knows (jsonSize) */
  measure(owner: string, input: unknown, encoding: Encoding | null, serialize = true, size?: number): Measured | Promise<Measured> {
    const chars = size ?? jsonSize(input, Number.POSITIVE_INFINITY);
    if (chars <= this.#inline || this.#closed) {
      this.#note('inline', chars);
      return { tokens: encoding === null ? 0 : countTokens(inputText(input), encoding) };
    }
    const mine = this.#pendingChars.get(owner) ?? 0;
    if (mine + chars > this.#perClient || this.#pendingTotal + chars > this.#total) {
      const who = mine + chars > this.#perClient ? 'your earlier submissions' : 'other submissions';
      throw new AllotError('QUEUE_BACKUP', `The tokenizer is busy with ${who}; retry later`, { retryAfterS: 2, details: { pending_chars: mine, limit_chars: this.#perClient } });
    }
    this.#pendingChars.set(owner, mine + chars);
    this.#pendingTotal += chars;
    this.#note('thread', chars);
    return new Promise<Measured>((resolve, reject) => {
      const job: Job = { id: this.#nextId++, owner, input, chars, encoding, serialize, resolve, reject };
      const q = this.#waiting.get(owner);
      if (q) q.push(job);
      else this.#waiting.set(owner, [job]);
      this.#pump();
    });
  }

  /** Inputs waiting or being handled (for tests and /status). */
  get pending(): number {
    let n = 0;
    for (const q of this.#waiting.values()) n += q.length;
    return n + this.#pool.filter((t) => t.job).length;
  }

  #note(where: 'inline' | 'thread', chars: number): void {
    const m = this.measured[where];
    m.inputs++;
    m.chars += chars;
  }

  #pump(): void {
    for (;;) {
      const thread = this.#idleThread();
      if (!thread) return;
      const job = this.#nextJob();
      if (!job) return;
      thread.job = job;
      thread.worker.ref();
      thread.worker.postMessage({ id: job.id, input: job.input, encoding: job.encoding, serialize: job.serialize, compressMin: this.#compressMin });
    }
  }

  /** The oldest input of the client served longest ago (round robin between clients). */
  #nextJob(): Job | undefined {
    let pick: string | undefined;
    let oldest = Infinity;
    for (const owner of this.#waiting.keys()) {
      const t = this.#lastServed.get(owner) ?? -1;
      if (t < oldest) {
        oldest = t;
        pick = owner;
      }
    }
    if (pick === undefined) return undefined;
    const q = this.#waiting.get(pick) as Job[];
    const job = q.shift();
    if (q.length === 0) this.#waiting.delete(pick);
    this.#lastServed.set(pick, this.#turn++);
    return job;
  }

  #idleThread(): Thread | undefined {
    const idle = this.#pool.find((t) => t.job === null);
    if (idle) return idle;
    if (this.#pool.length >= this.#threads) return undefined;
    const worker = new Worker(new URL('./token-count-thread.ts', import.meta.url));
    const t: Thread = { worker, job: null };
    worker.unref();
    worker.on('message', (m: { id: number; count?: number; json?: Uint8Array; zstd?: Uint8Array; error?: string }) => {
      const job = t.job;
      if (!job || job.id !== m.id) return;
      this.#done(t, job);
      if (m.error !== undefined) job.reject(new AllotError('INTERNAL_ERROR', `Measuring an input failed: ${m.error}`));
      else job.resolve({ tokens: m.count as number, json: m.json, zstd: m.zstd });
    });
    // A thread that died takes its input with it: measure that one inline, and start a new thread for the rest.
    worker.on('error', (err) => this.#lost(t, err));
    worker.on('exit', (code) => this.#lost(t, new Error(`token counting thread exited with code ${code}`)));
    this.#pool.push(t);
    return t;
  }

  #done(t: Thread, job: Job): void {
    t.job = null;
    t.worker.unref();
    const left = (this.#pendingChars.get(job.owner) ?? 0) - job.chars;
    if (left > 0) this.#pendingChars.set(job.owner, left);
    else {
      this.#pendingChars.delete(job.owner);
      this.#lastServed.delete(job.owner);
    }
    this.#pendingTotal -= job.chars;
    this.#pump();
  }

  #lost(t: Thread, err: Error): void {
    const i = this.#pool.indexOf(t);
    if (i < 0) return;
    this.#pool.splice(i, 1);
    const job = t.job;
    if (!job) return;
    this.#done(t, job);
    if (this.#closed) job.reject(err);
    else this.#inlineJob(job);
  }

  #inlineJob(job: Job): void {
    try {
      job.resolve({ tokens: job.encoding === null ? 0 : countTokens(inputText(job.input), job.encoding) });
    } catch (e) {
      job.reject(e as Error);
    }
  }

  /** Stop the threads; inputs still waiting are measured inline. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const threads = this.#pool.splice(0);
    for (const t of threads) {
      const job = t.job;
      t.job = null;
      if (job) this.#inlineJob(job);
    }
    for (const [owner, q] of this.#waiting) {
      this.#waiting.delete(owner);
      for (const job of q) this.#inlineJob(job);
    }
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }
}
