/** Helpers for tests and benches: child processes that announce readiness, and a keep-alive JSON HTTP client. */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = new URL('../..', import.meta.url).pathname;
export const NODE = process.execPath;

export interface Proc {
  readonly child: ChildProcess;
  readonly output: () => string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Start `node args…` and resolve once stdout matches `ready`. */
export function startProcess(args: string[], opts: { env?: Record<string, string>; ready: RegExp; timeoutMs?: number }): Promise<Proc> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, args, { cwd: ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (out.length > 1_000_000) out = out.slice(-500_000);
      if (opts.ready.test(out)) {
        clearTimeout(timer);
        resolve(proc);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} did not become ready in time:\n${out}`));
    }, opts.timeoutMs ?? 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(' ')} exited (${code}) before ready:\n${out}`));
    });
    const proc: Proc = {
      child,
      output: () => out,
      stop: (signal = 'SIGTERM') =>
        new Promise<void>((r) => {
          if (child.exitCode !== null || child.signalCode !== null) return r();
          child.once('exit', () => r());
          child.kill(signal);
        }),
    };
  });
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function writeJson(path: string, v: unknown): void {
  writeFileSync(path, JSON.stringify(v, null, 2));
}

/** A minimal JSON client over one keep-alive agent. */
export class Client {
  readonly #agent: http.Agent;
  readonly #base: URL;
  readonly #auth: string | undefined;

  constructor(base: string, key?: string, maxSockets = 256) {
    this.#base = new URL(base);
    this.#auth = key;
    this.#agent = new http.Agent({ keepAlive: true, maxSockets });
  }

  withKey(key: string): Client {
    return new Client(this.#base.toString(), key);
  }

  request<T = unknown>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
    const data = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http.request(
        new URL(path, this.#base),
        {
          method, agent: this.#agent,
          headers: {
            ...(data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {}),
            ...(this.#auth ? { authorization: `Bearer ${this.#auth}` } : {}),
            ...headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // Not JSON (e.g. /metrics): keep the text.
            }
            resolve({ status: res.statusCode ?? 0, body: parsed as T });
          });
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
