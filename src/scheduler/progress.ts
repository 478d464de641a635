/**
 * Workers' progress reports: fenced by the lease token they were issued
 * for, clamped to 0-100, and for a pipeline counted across its stages.
 */
import type { SchedulerState } from './state.ts';
import { overallPercent } from './pipeline.ts';

export class Progress {
  readonly #s: SchedulerState;

  constructor(s: SchedulerState) {
    this.#s = s;
  }

  /** A worker's progress report, fenced by the lease token it was issued for. */
  /** @param stage the pipeline stage the report's token was issued for */
  async report(id: string, token: number, percent: number, message: string | undefined, stage?: number): Promise<boolean> {
    const run = this.#s.running.get(id)?.stage;
    if (stage === undefined || !run) return this.set(id, token, percent, message);
    // A late report from a stage that has ended is accepted and dropped: the pipeline has moved on.
    if (stage !== run.k) return run.k > stage;
    // A stage reports its own 0-100; the request's progress counts the stages before it.
    return this.set(id, token, overallPercent(stage, run.n, percent), `stage ${stage + 1}/${run.n}${message ? `: ${message}` : ''}`);
  }

  /** Record a request's progress (a pipeline's already counted across stages). */
  async set(id: string, token: number, percent: number, message: string | undefined): Promise<boolean> {
    const pct = Math.max(0, Math.min(100, Number.isFinite(percent) ? percent : 0));
    const ok = await this.#s.d.store.setProgress(id, token, { percent: pct, message, at: this.#s.d.clock.now() });
    if (ok) this.#s.d.events.emit('request:progress', id, pct, message);
    return ok;
  }
}
