import type { ProgressTarget } from './job.ts';

export interface ProgressUpdate {
  progress: number;
  message?: string;
}

export type ProgressSink = (update: ProgressUpdate) => void;

/** Minimum spacing between sends: ~10 updates per second is plenty for a progress bar. */
const MIN_INTERVAL_MS = 100;

/**
 * Rate-limits progress reports while guaranteeing the latest one is delivered:
 * intermediate values are dropped, never the newest.
 */
export class ProgressCoalescer {
  readonly #sink: ProgressSink;
  #pending: ProgressUpdate | null = null;
  #lastSent = -Infinity;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(sink: ProgressSink) {
    this.#sink = sink;
  }

  report(percent: number, message?: string): void {
    if (this.#closed || !Number.isFinite(percent)) return;
    const progress = Math.min(100, Math.max(0, percent));
    this.#pending = message === undefined ? { progress } : { progress, message };
    if (this.#timer !== null) return;
    const wait = this.#lastSent + MIN_INTERVAL_MS - performance.now();
    if (wait <= 0) {
      this.#send();
    } else {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.#send();
      }, wait);
      // A pending progress report must not keep a finished process alive.
      this.#timer.unref();
    }
  }

  /** Send whatever is pending now and stop accepting reports (the job is over). */
  close(): void {
    if (this.#closed) return;
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    this.#send();
    this.#closed = true;
  }

  #send(): void {
    const update = this.#pending;
    if (update === null) return;
    this.#pending = null;
    this.#lastSent = performance.now();
    try {
      this.#sink(update);
    } catch {
      // Progress is best effort; it must never fail the job.
    }
  }
}

const PROGRESS_POST_TIMEOUT_MS = 5_000;

/** Fire-and-forget POST of each update to Allot's progress endpoint. */
export function httpProgressSink(target: ProgressTarget): ProgressSink {
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${target.token}` };
  return (update) => {
    fetch(target.url, {
      method: 'POST',
      headers,
      body: JSON.stringify(update),
      signal: AbortSignal.timeout(PROGRESS_POST_TIMEOUT_MS),
    })
      .then((res) => res.arrayBuffer()) // drained so the keep-alive connection can be reused
      .catch(() => {});
  };
}

/** Write each update as one NDJSON line, as the subprocess transport expects. */
export function lineProgressSink(out: NodeJS.WritableStream): ProgressSink {
  return (update) => {
    out.write(`${JSON.stringify(update)}\n`);
  };
}
