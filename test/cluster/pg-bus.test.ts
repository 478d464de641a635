/**
 * The cluster bus on a real PostgreSQL (src/cluster/pg-bus.ts): messages
 * reach the other instances and not the sender; a listener whose connection
 * is killed reconnects by itself and tells its subscribers to re-read.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { PgBus } from '../../src/cluster/pg-bus.ts';
import type { Message } from '../../src/cluster/bus.ts';
import { PG_SKIP, PG_URL, testSchema, type TestSchema } from './pg-schema.ts';

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('cluster bus (PostgreSQL LISTEN/NOTIFY)', { skip: PG_SKIP }, () => {
  let schema: TestSchema;
  before(async () => {
    schema = await testSchema([]);
  });
  after(async () => {
    await schema?.drop();
  });

  const open = (self: string, pollMs = 60_000): Promise<PgBus> =>
    PgBus.open({ connection: schema.connection, pool: schema.pool(2), channel: schema.name, self, pollMs, onError: () => {} });

  it('delivers to the other instances, not back to the sender; another schema hears nothing', async () => {
    const [a, b, c] = await Promise.all([open('a'), open('b'), open('c')]);
    const stranger = await PgBus.open({ connection: schema.connection, pool: schema.pool(1), channel: `${schema.name}_other`, self: 'x', pollMs: 60_000, onError: () => {} });
    const got: Record<string, Message[]> = { a: [], b: [], c: [], x: [] };
    a.on('enqueued', (m) => got.a?.push(m));
    b.on('enqueued', (m) => got.b?.push(m));
    c.on('registry', (m) => got.c?.push(m));
    stranger.on('enqueued', (m) => got.x?.push(m));
    try {
      a.publish('enqueued', { id: 'r1' });
      await until(() => got.b?.length === 1, 2_000, 'b to hear r1');
      b.publish('registry', {});
      await until(() => got.c?.length === 1, 2_000, 'c to hear the registry change');
      await sleep(100);
      assert.deepEqual(got.b, [{ id: 'r1' }]);
      assert.deepEqual(got.a, [], 'the sender does not hear itself');
      assert.deepEqual(got.x, [], 'another channel hears nothing');
    } finally {
      for (const bus of [a, b, c, stranger]) await bus.close();
    }
  });

  it('sends what is published together as few notifications, each under the 8,000-byte limit, delivered in order', async () => {
    const [a, b] = await Promise.all([open('a'), open('b')]);
    const got: number[] = [];
    b.on('request', (m) => got.push(Number(m.n)));
    b.on('progress', (m) => got.push(-Number(m.n)));
    let notifications = 0;
    try {
      // 600 messages of about 120 bytes: 72 kB, more than one notification can carry.
      for (let n = 1; n <= 600; n++) a.publish(n % 2 ? 'request' : 'progress', { n, pad: 'x'.repeat(100) });
      await until(() => got.length === 600, 5_000, 'all 600');
      assert.deepEqual(got, Array.from({ length: 600 }, (_, i) => (i % 2 ? -(i + 1) : i + 1)), 'in the order published');
      // Each notification PostgreSQL delivered to a plain listener is a batch under the limit.
      const raw = new pg.Client(schema.connection);
      await raw.connect();
      const sizes: number[] = [];
      let carried = 0;
      raw.on('notification', (n) => {
        sizes.push(Buffer.byteLength(n.payload ?? ''));
        carried += (JSON.parse(n.payload ?? '{}') as { b?: unknown[] }).b?.length ?? 0;
      });
      await raw.query(`LISTEN ${pg.escapeIdentifier(schema.name)}`);
      for (let n = 1; n <= 600; n++) a.publish('request', { n, pad: 'x'.repeat(100) });
      await until(() => got.length === 1200, 5_000, 'the second 600');
      // The plain listener is another connection: its copies may arrive a little after b's.
      await until(() => carried >= 600, 5_000, 'the plain listener to hear all 600');
      notifications = sizes.length;
      await raw.end();
      assert.ok(notifications >= 9 && notifications <= 20, `${notifications} notifications for 72 kB (${sizes.join(', ')})`);
      assert.ok(Math.max(...sizes) <= 8000, 'each under the limit');
    } finally {
      for (const bus of [a, b]) await bus.close();
    }
  });

  it('reconnects after its connection is killed, resyncs, and hears messages again', async () => {
    const a = await open('a');
    const b = await open('b');
    let resyncs = 0;
    const heard: Message[] = [];
    b.onResync(() => resyncs++);
    b.on('enqueued', (m) => heard.push(m));
    try {
      // Kill b's listening connection from the server side, as a restart or a network cut would.
      const admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
      const r = await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND query LIKE $1", [`%${schema.name}%`]);
      await admin.end();
      assert.ok(r.rowCount && r.rowCount >= 2, 'the listening backends were found');
      await until(() => resyncs >= 1, 5_000, 'b to reconnect and resync');
      a.publish('enqueued', { id: 'after' });
      await until(() => heard.length === 1, 2_000, 'b to hear a message after reconnecting');
      assert.deepEqual(heard, [{ id: 'after' }]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('fires the poll backstop every pollMs', async () => {
    const a = await open('a', 100);
    let n = 0;
    a.onResync(() => n++);
    await sleep(450);
    await a.close();
    assert.ok(n >= 3 && n <= 5, `${n} resyncs in 450 ms at 100 ms`);
  });
});
