/**
 * The admin key across restarts (issue 13, item 3, in part): a restart with
 * another ALLOT_ADMIN_KEY says that it replaces the stored one; a restart
 * without one keeps the stored key and says so, instead of silently making a
 * new key. Allot is built as `npm start` builds it, on one SQLite file.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { buildAllot } from '../../src/boot.ts';
import { resolveConfig } from '../../src/config/resolve.ts';
import { tempDir } from '../helpers/proc.ts';

const dir = tempDir('allot-admin-key-');
after(() => rmSync(dir, { recursive: true, force: true }));

/** Build Allot on the test's database with `adminKey` (or none); what it logged, and whether `tries` keys are admins. */
async function start(adminKey: string | undefined, tries: string[]): Promise<{ logged: string[]; generated: string | undefined; admits: boolean[] }> {
  const logged: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) logged.push((JSON.parse(l) as { msg: string }).msg);
      done();
    },
  });
  const config = resolveConfig({ ALLOT_DB: join(dir, 'allot.db'), ...(adminKey ? { ALLOT_ADMIN_KEY: adminKey } : {}) });
  const allot = await buildAllot(config, { logger: pino({ level: 'warn' }, sink) });
  try {
    const keys = [...tries, ...(allot.generatedAdminKey ? [allot.generatedAdminKey] : [])];
    const admits = await Promise.all(keys.map(async (k) => (await allot.app.request('/admin/clients', { headers: { authorization: `Bearer ${k}` } })).status === 200));
    return { logged, generated: allot.generatedAdminKey, admits };
  } finally {
    await allot.stop();
  }
}

const A = 'first-admin-key-0123456789';
const B = 'second-admin-key-0123456789';

test('set, then missing, then another: the stored key is kept and said so, then replaced and said so', async () => {
  const first = await start(A, [A]);
  assert.deepEqual(first.admits, [true]);
  assert.equal(first.generated, undefined);
  assert.equal(first.logged.filter((m) => /ALLOT_ADMIN_KEY/.test(m)).length, 0, 'nothing to say the first time');

  const missing = await start(undefined, [A]);
  assert.equal(missing.generated, undefined, 'no new key is made');
  assert.deepEqual(missing.admits, [true], 'the key set before still works');
  assert.ok(missing.logged.some((m) => /ALLOT_ADMIN_KEY is not set: the admin key of an earlier start .* stays the admin key/.test(m)), missing.logged.join('\n'));

  const other = await start(B, [A, B]);
  assert.deepEqual(other.admits, [false, true], 'the new key replaces the old one');
  assert.ok(other.logged.some((m) => /ALLOT_ADMIN_KEY is not the admin key this database had: it replaces it/.test(m)), other.logged.join('\n'));

  const again = await start(B, [B]);
  assert.equal(again.logged.filter((m) => /ALLOT_ADMIN_KEY/.test(m)).length, 0, 'the same key again: nothing to say');
});
