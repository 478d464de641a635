/**
 * A real Allot listening on loopback for the package tests: the same
 * `startAllot` as `npm start`, on the backend the run selects
 * (test/helpers/app-backend.ts: SQLite, or PostgreSQL + Redis), on an
 * ephemeral port. The SDKs talk to it over real HTTP; workers report
 * progress to its own URL.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { startAllot } from '../../src/boot.ts';
import { writeConfig } from '../helpers/app-harness.ts';

export interface LiveAllot {
  readonly url: string;
  readonly adminKey: string;
  /** An admin call; asserts the status when given. */
  admin(method: string, path: string, json?: unknown, status?: number): Promise<{ status: number; body: Record<string, unknown> }>;
  /** POST /admin/clients: the new client's id and its API key. */
  createClient(tier?: string): Promise<{ id: string; key: string }>;
  stop(): Promise<void>;
}

export async function startLiveAllot(fileConfig: Record<string, unknown>): Promise<LiveAllot> {
  const { config, adminKey, cleanup } = writeConfig(fileConfig, { ALLOT_HOST: '127.0.0.1', ALLOT_PORT: '0' });
  let running;
  try {
    running = await startAllot(config, { logger: pino({ level: 'silent' }) });
  } catch (err) {
    await cleanup();
    throw err;
  }
  const { url } = running;
  const admin = async (method: string, path: string, json?: unknown, status?: number) => {
    const r = await fetch(`${url}${path}`, {
      method, headers: { authorization: `Bearer ${adminKey}`, ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
      body: json === undefined ? undefined : JSON.stringify(json),
    });
    const text = await r.text();
    if (status !== undefined) assert.equal(r.status, status, `${method} ${path}: ${text}`);
    return { status: r.status, body: JSON.parse(text) as Record<string, unknown> };
  };
  let stopping: Promise<void> | undefined;
  return {
    url, adminKey, admin,
    async createClient(tier = 'standard') {
      const r = await admin('POST', '/admin/clients', { name: `pkg-${randomUUID().slice(0, 8)}`, tier }, 201);
      return { id: (r.body.client as { id: string }).id, key: r.body.api_key as string };
    },
    stop() {
      stopping ??= (async () => {
        await running.stop();
        await cleanup();
      })();
      return stopping;
    },
  };
}
