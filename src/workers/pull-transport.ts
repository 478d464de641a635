/**
 * Pull workers (`transport: "pull"`): instead of Allot calling the worker,
 * the worker asks for work (POST /internal/jobs/poll) and sends results back
 * in batches (POST /internal/jobs/results). To the scheduler it is a
 * transport like the others: `dispatch()` gives a claimed job to a worker
 * and resolves with the worker's answer, so priority, fairness, buckets,
 * budgets, fencing, retries and the optimizer are the same code as for
 * pushed work. What differs is the rendezvous kept here, per worker:
 *
 * - polls waiting for work, each wanting up to `max_jobs`;
 * - `room(worker)`: how many more jobs the waiting polls would take. The
 *   scheduler claims work for a pull worker only against that room, so
 *   nothing is claimed for a worker that is not asking (no prefetch: a job
 *   is claimed only when a poll is there for it, and its lease expires like
 *   any other);
 * - jobs given to polls and awaiting their result, by request id with the
 *   lease token they were given under: a result is taken only with that
 *   token, from that worker (a stale one is refused and not charged);
 * - a mailbox for a job whose poll ended (timed out, disconnected) before
 *   it arrived: the next poll gets it first. Its lease runs all the while.
 *
 * A poll answers as soon as it has jobs and no more arrived in the same turn
 * of the event loop (so jobs claimed together go out together), when it is
 * full, or after `wait_ms` with none.
 */
import type { WorkerDef } from '../model.ts';
import { abortOutcome, type DispatchContext, type Job, type Transport, type WorkerOutcome } from './transport.ts';

/** A job as a pull worker gets it: the direct protocol's fields and the lease it runs under. */
export type PulledJob = Job & { readonly lease_token: number };

interface Handed {
  readonly worker: string;
  readonly job: PulledJob;
  /** Whether a poll has taken it (before that it sits in the mailbox and no result can be for it). */
  out: boolean;
  /** Whether the request ends with this job (false: a pipeline stage). */
  readonly endsRequest: boolean;
  readonly resolve: (o: WorkerOutcome) => void;
}

interface Poll {
  readonly want: number;
  readonly jobs: PulledJob[];
  readonly answer: (jobs: PulledJob[]) => void;
  /** An answer is due at the next turn (a job arrived in this one). */
  due: boolean;
}

/** What a result came to. */
export type Delivery = { readonly taken: true; readonly endsRequest: boolean } | { readonly taken: false; readonly reason: string };

export class PullTransport implements Transport {
  readonly #polls = new Map<string, Poll[]>();
  readonly #mailbox = new Map<string, Handed[]>();
  /** Jobs dispatched and not yet answered, by request id, and how many of them each worker has. */
  readonly #handed = new Map<string, Handed>();
  readonly #outstanding = new Map<string, number>();
  #onDemand: () => void = () => {};

  /** Called when a poll starts waiting: the scheduler looks for work it could take. */
  onDemand(fn: () => void): void {
    this.#onDemand = fn;
  }

  /** How many more jobs the polls of `worker` waiting now would take, less those already waiting for a poll. */
  room(worker: string): number {
    let n = 0;
    for (const p of this.#polls.get(worker) ?? []) n += p.want - p.jobs.length;
    return n;
  }

  /** Jobs of `worker` given out or waiting for a poll, not yet answered. */
  outstanding(worker: string): number {
    return this.#outstanding.get(worker) ?? 0;
  }

  dispatch(worker: WorkerDef, job: Job, ctx: DispatchContext): Promise<WorkerOutcome> {
    if (ctx.signal.aborted) return Promise.resolve(abortOutcome(ctx.signal));
    return new Promise<WorkerOutcome>((resolve) => {
      const onAbort = (): void => {
        this.#forget(h);
        resolve(abortOutcome(ctx.signal));
      };
      const h: Handed = {
        worker: worker.name, job: { ...job, lease_token: ctx.leaseToken ?? 0 }, out: false, endsRequest: ctx.endsRequest ?? true,
        resolve: (o) => {
          ctx.signal.removeEventListener('abort', onAbort);
          resolve(o);
        },
      };
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      this.#track(h);
      const poll = (this.#polls.get(worker.name) ?? []).find((p) => p.jobs.length < p.want);
      if (poll) this.#give(poll, h);
      else this.#mailbox.set(worker.name, [...(this.#mailbox.get(worker.name) ?? []), h]);
    });
  }

  /**
   * A worker asks for up to `max` jobs, waiting at most `waitMs` for the
   * first. Jobs waiting in its mailbox come first. `signal` aborts when the
   * worker hung up: what was given to it goes back to the mailbox.
   */
  poll(worker: string, max: number, waitMs: number, signal: AbortSignal): Promise<PulledJob[]> {
    return new Promise<PulledJob[]>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const p: Poll = {
        want: max, jobs: [], due: false,
        answer: (jobs) => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          this.#drop(worker, p);
          resolve(jobs);
        },
      };
      const onAbort = (): void => {
        // Nobody to read the answer: its jobs wait for the next poll.
        const back = p.jobs.map((j) => this.#handed.get(j.request_id)).filter((h): h is Handed => h !== undefined);
        for (const h of back) h.out = false;
        this.#mailbox.set(worker, [...back, ...(this.#mailbox.get(worker) ?? [])]);
        p.jobs.length = 0;
        p.answer([]);
      };
      const waiting = this.#mailbox.get(worker) ?? [];
      while (p.jobs.length < max && waiting.length > 0) {
        const h = waiting.shift() as Handed;
        h.out = true;
        p.jobs.push(h.job);
      }
      if (p.jobs.length > 0) return p.answer(p.jobs);
      if (signal.aborted || waitMs <= 0) return resolve([]);
      this.#polls.set(worker, [...(this.#polls.get(worker) ?? []), p]);
      signal.addEventListener('abort', onAbort, { once: true });
      timer = setTimeout(() => p.answer(p.jobs), waitMs);
      this.#onDemand();
    });
  }

  /**
   * The answer carrying `jobs` never reached the worker (it hung up as it
   * was sent): those still unanswered wait for the next poll, under the same
   * lease, instead of until their deadline.
   */
  giveBack(worker: string, jobs: readonly PulledJob[]): void {
    const back = jobs.map((j) => this.#handed.get(j.request_id)).filter((h): h is Handed => h !== undefined && h.out && h.worker === worker);
    if (back.length === 0) return;
    for (const h of back) h.out = false;
    this.#mailbox.set(worker, [...back, ...(this.#mailbox.get(worker) ?? [])]);
    // A poll may be waiting already.
    for (const p of this.#polls.get(worker) ?? []) {
      const box = this.#mailbox.get(worker) ?? [];
      while (p.jobs.length < p.want && box.length > 0) this.#give(p, box.shift() as Handed);
    }
  }

  /** A result for `requestId` under `leaseToken`, from `worker`: taken only if that job is out to it under that lease. */
  deliver(worker: string, requestId: string, leaseToken: number, outcome: WorkerOutcome): Delivery {
    const h = this.#handed.get(requestId);
    if (!h || h.worker !== worker || !h.out) return { taken: false, reason: `Request ${requestId} is not out to worker "${worker}"` };
    if (h.job.lease_token !== leaseToken) return { taken: false, reason: `Request ${requestId} runs under lease ${h.job.lease_token}, not ${leaseToken}` };
    this.#untrack(h);
    h.resolve(outcome);
    return { taken: true, endsRequest: h.endsRequest };
  }

  /** The job `requestId` if it is out to `worker` under `leaseToken` now (a heartbeat's check), else null. */
  held(worker: string, requestId: string, leaseToken: number): PulledJob | null {
    const h = this.#handed.get(requestId);
    return h !== undefined && h.out && h.worker === worker && h.job.lease_token === leaseToken ? h.job : null;
  }

  async close(): Promise<void> {
    for (const polls of this.#polls.values()) for (const p of polls) p.answer(p.jobs);
  }

  #give(p: Poll, h: Handed): void {
    h.out = true;
    p.jobs.push(h.job);
    if (p.jobs.length >= p.want) return p.answer(p.jobs);
    // Jobs claimed together arrive in the same turn: answer once they are all in.
    if (p.due) return;
    p.due = true;
    setImmediate(() => {
      if (this.#polls.get(h.worker)?.includes(p)) p.answer(p.jobs);
    });
  }

  #track(h: Handed): void {
    const prior = this.#handed.get(h.job.request_id);
    if (prior) this.#untrack(prior);
    this.#handed.set(h.job.request_id, h);
    this.#outstanding.set(h.worker, this.outstanding(h.worker) + 1);
  }

  #untrack(h: Handed): void {
    if (this.#handed.get(h.job.request_id) !== h) return;
    this.#handed.delete(h.job.request_id);
    const n = this.outstanding(h.worker) - 1;
    if (n > 0) this.#outstanding.set(h.worker, n);
    else this.#outstanding.delete(h.worker);
  }

  #drop(worker: string, p: Poll): void {
    const polls = this.#polls.get(worker);
    if (!polls) return;
    const rest = polls.filter((x) => x !== p);
    if (rest.length) this.#polls.set(worker, rest);
    else this.#polls.delete(worker);
  }

  #forget(h: Handed): void {
    this.#untrack(h);
    const box = this.#mailbox.get(h.worker);
    if (box?.includes(h)) this.#mailbox.set(h.worker, box.filter((x) => x !== h));
  }
}
