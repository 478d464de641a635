/**
 * Subprocess transport: run the worker's command, write the job as one JSON
 * line on stdin, read NDJSON from stdout: progress lines
 * (`{"progress": 42, "message": "…"}`) then the standard response. The
 * process is killed at the deadline or on cancel.
 */
import { spawn } from 'node:child_process';
import type { WorkerDef } from '../model.ts';
import { abortOutcome, failure, jobJson, parseStandardResponse, type DispatchContext, type Job, type Transport, type WorkerOutcome } from './transport.ts';

const NEWLINE = Buffer.from('\n');

/** Output larger than this kills the process. @default 16 MiB */
const MAX_STDOUT_BYTES = 16 * 1024 * 1024;
const STDERR_TAIL_BYTES = 2048;

export class SubprocessTransport implements Transport {
  readonly #children = new Set<ReturnType<typeof spawn>>();

  dispatch(w: WorkerDef, job: Job, ctx: DispatchContext): Promise<WorkerOutcome> {
    const [cmd, ...args] = w.command ?? [];
    if (!cmd) return Promise.resolve(failure('WORKER_UNAVAILABLE', `Worker "${w.name}" has no command`, false));
    if (ctx.signal.aborted) return Promise.resolve(abortOutcome(ctx.signal));
    return new Promise<WorkerOutcome>((resolve) => {
      const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...w.env, ALLOT_REQUEST_ID: job.request_id } });
      this.#children.add(child);
      let settled = false;
      let final: WorkerOutcome | undefined;
      let buf = '';
      let size = 0;
      let stderr = '';
      const done = (o: WorkerOutcome): void => {
        if (settled) return;
        settled = true;
        ctx.signal.removeEventListener('abort', onAbort);
        resolve(o);
      };
      const onAbort = (): void => {
        child.kill('SIGKILL');
        done(abortOutcome(ctx.signal));
      };
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      const line = (l: string): void => {
        if (!l.trim()) return;
        let v: unknown;
        try {
          v = JSON.parse(l);
        } catch {
          return; // Not protocol output: ignore stray prints rather than fail the job.
        }
        if (v && typeof v === 'object' && 'success' in v) final = parseStandardResponse(v);
        else if (v && typeof v === 'object' && typeof (v as { progress?: unknown }).progress === 'number') {
          const p = v as { progress: number; message?: unknown };
          ctx.onProgress(p.progress, typeof p.message === 'string' ? p.message : undefined);
        }
      };
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        size += chunk.length;
        if (size > MAX_STDOUT_BYTES) {
          child.kill('SIGKILL');
          done(failure('WORKER_ERROR', `Worker "${w.name}" wrote more than ${MAX_STDOUT_BYTES} bytes`, false));
          return;
        }
        buf += chunk;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          line(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      });
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (c: string) => {
        stderr = (stderr + c).slice(-STDERR_TAIL_BYTES);
      });
      child.on('error', (err) => done(failure('WORKER_UNAVAILABLE', `Could not run worker "${w.name}" (${cmd}): ${err.message}`, false)));
      child.on('close', (code, sig) => {
        this.#children.delete(child);
        line(buf);
        if (final) return done(final);
        done(failure('WORKER_ERROR', `Worker "${w.name}" exited (${sig ?? `code ${code}`}) without a response${stderr ? `: ${stderr.trim().slice(-500)}` : ''}`, true));
      });
      child.stdin.on('error', () => {}); // EPIPE when the child exits early: reported by 'close'.
      const body = jobJson(job);
      if (typeof body === 'string') child.stdin.end(`${body}\n`);
      else {
        for (const part of body) child.stdin.write(part);
        child.stdin.end(NEWLINE);
      }
    });
  }

  async close(): Promise<void> {
    for (const c of this.#children) c.kill('SIGKILL');
    this.#children.clear();
  }
}
