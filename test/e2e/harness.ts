/**
 * End-to-end harness: Allot and its workers as real child processes on
 * loopback, talking real HTTP, on the selected backend
 * (test/helpers/app-backend.ts): a real SQLite file, or PostgreSQL and Redis.
 */
import { join } from 'node:path';
import { sampleText } from '../../src/migrate/replay.ts';
import { backendEnv, type BackendEnv } from '../helpers/app-backend.ts';
import { Client, ROOT, startProcess, tempDir, writeJson, type Proc } from '../helpers/proc.ts';

export const ADMIN_KEY = 'e2e-admin-key-0123456789';

export interface RunningWorker {
  readonly url: string;
  readonly proc: Proc;
}

/** Start an example worker (`examples/<name>/server.ts`) on an ephemeral port. */
export async function startWorker(script: string, args: string[] = []): Promise<RunningWorker> {
  const proc = await startProcess([join(ROOT, script), '--port', '0', ...args], { ready: /listening on (http:\/\/\S+)/ });
  const url = /listening on (http:\/\/\S+)/.exec(proc.output())?.[1] as string;
  return { url: url.endsWith('/') ? url : `${url}/`, proc };
}

export interface AllotProc {
  readonly url: string;
  readonly proc: Proc;
  readonly admin: Client;
  /** A client bound to `key`, sharing nothing with the admin's connections. */
  as(key: string): Client;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface AllotFiles {
  readonly dir: string;
  /** The SQLite file (unused on PostgreSQL). */
  readonly db: string;
  readonly config: string;
  /** The database every Allot started on these files shares; `backend.cleanup()` drops it (PostgreSQL schema, Redis keys). */
  readonly backend: BackendEnv;
}

export function allotFiles(config: unknown): AllotFiles {
  const dir = tempDir('allot-e2e-');
  const db = join(dir, 'allot.db');
  const files = { dir, db, config: join(dir, 'config.json'), backend: backendEnv(db) };
  writeJson(files.config, config);
  return files;
}

/** Start `node src/main.ts` on an ephemeral port with the given files. */
export async function startAllot(files: AllotFiles, env: Record<string, string> = {}): Promise<AllotProc> {
  const proc = await startProcess([join(ROOT, 'src/main.ts')], {
    env: { ALLOT_PORT: '0', ...files.backend.env, ALLOT_CONFIG: files.config, ALLOT_ADMIN_KEY: ADMIN_KEY, ALLOT_LOG_LEVEL: 'warn', ...env },
    ready: /Allot listening on (http:\/\/\S+)/,
  });
  const url = /Allot listening on (http:\/\/\S+)/.exec(proc.output())?.[1] as string;
  const clients: Client[] = [];
  const admin = new Client(url, ADMIN_KEY);
  clients.push(admin);
  return {
    url, proc, admin,
    as(key) {
      const c = new Client(url, key);
      clients.push(c);
      return c;
    },
    async stop(signal) {
      for (const c of clients) c.close();
      await proc.stop(signal);
    },
  };
}

export async function createClient(a: AllotProc, name: string, tier: string, extra: Record<string, unknown> = {}): Promise<{ id: string; key: string }> {
  const r = await a.admin.request<{ client: { id: string }; api_key: string }>('POST', '/admin/clients', { name, tier, ...extra });
  if (r.status !== 201) throw new Error(`create client: ${r.status} ${JSON.stringify(r.body)}`);
  return { id: r.body.client.id, key: r.body.api_key };
}

/** Poll until `fn` returns true or `ms` pass. */
export async function until(fn: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

export interface AuditRow {
  seq: number;
  at_ms: number;
  request_id: string | null;
  client_id: string | null;
  kind: string;
  from: string | null;
  to: string | null;
  data: Record<string, unknown> | null;
}

/** The whole audit log, paged. */
export async function allAudit(a: AllotProc): Promise<AuditRow[]> {
  const out: AuditRow[] = [];
  let after = 0;
  for (;;) {
    const r = await a.admin.request<{ entries: AuditRow[]; next_after: number }>('GET', `/admin/audit?after=${after}&limit=100000`);
    out.push(...r.body.entries);
    if (r.body.entries.length < 100000) return out;
    after = r.body.next_after;
  }
}

/** A deterministic text of `n` sentences for request `i`. */
export function text(i: number, n = 4): string {
  return sampleText(i, n);
}
