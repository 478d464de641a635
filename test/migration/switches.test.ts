/**
 * The migration switches survive a restart (a rollback stays a rollback),
 * are audited, name the field they reject, and without a legacy
 * orchestrator everything runs in Allot.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FakeClock } from '../../src/core/clock.ts';
import { AllotError } from '../../src/core/errors.ts';
import { MigrationSettings } from '../../src/migrate/switches.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'allot-switches-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function open(name: string): Promise<SqliteStore> {
  const s = new SqliteStore(join(dir, name));
  await s.migrate();
  return s;
}

const defaults = { mode: 'rollout' as const, rolloutPercent: 30, shadow: false, legacyConfigured: true };

describe('migration switches', () => {
  it("starts from the config, then keeps the operator's changes across a restart", async () => {
    const clock = new FakeClock();
    let store = await open('restart.db');
    let s = await MigrationSettings.load(store, clock, defaults);
    assert.equal(s.current.source, 'config');
    assert.equal(s.current.rolloutPercent, 30);
    await s.update({ rolloutPercent: 55, shadow: true }, 'admin');
    clock.advance(1000);
    const rolled = await s.update({ rollback: true }, 'admin');
    assert.equal(rolled.rolledBackAt, clock.now());
    assert.equal(s.route('any-id'), 'v2');
    assert.equal(s.shadowing, false, 'no shadow copies into Allot during a rollback');
    await store.durable();
    await store.close();

    store = await open('restart.db');
    s = await MigrationSettings.load(store, clock, { ...defaults, rolloutPercent: 10 });
    assert.deepEqual(
      { mode: s.current.mode, rolloutPercent: s.current.rolloutPercent, shadow: s.current.shadow, rollback: s.current.rollback, source: s.current.source },
      { mode: 'rollout', rolloutPercent: 55, shadow: true, rollback: true, source: 'stored' },
    );
    assert.equal(s.route('any-id'), 'v2', 'still rolled back after the restart');
    const audit = await store.listAudit({ limit: 1000 });
    const changes = audit.filter((e) => e.kind === 'admin' && (e.data as { key?: string } | null)?.key === 'migration');
    assert.equal(changes.length, 2, 'each change is an admin audit row');
    await s.update({ rollback: false }, 'admin');
    assert.equal(s.shadowing, true);
    assert.equal(s.shadows('any-id'), true, 'every request is copied by default (shadow_percent 100)');
    await s.update({ shadowPercent: 0 }, 'admin');
    assert.equal(s.shadows('any-id'), false, 'none at 0%');
    assert.equal(s.shadowing, true);
    await store.close();
  });

  it('names the field it rejects and changes nothing', async () => {
    const store = await open('invalid.db');
    const s = await MigrationSettings.load(store, new FakeClock(), defaults);
    const field = async (p: Parameters<MigrationSettings['update']>[0]): Promise<unknown> => {
      try {
        await s.update(p, 'admin');
      } catch (err) {
        assert.ok(err instanceof AllotError && err.code === 'VALIDATION_ERROR');
        return err.details?.field;
      }
      return undefined;
    };
    assert.equal(await field({ rolloutPercent: 101 }), 'rollout_percent');
    assert.equal(await field({ rolloutPercent: Number.NaN }), 'rollout_percent');
    assert.equal(await field({ mode: 'both' as never }), 'mode');
    assert.equal(await field({ shadowPercent: -1 }), 'shadow_percent');
    assert.equal(s.current.rolloutPercent, 30);
    assert.equal(s.current.source, 'config');
    await store.close();
  });

  it('runs everything in Allot, and refuses to route to v2, without a legacy orchestrator', async () => {
    const store = await open('none.db');
    const s = await MigrationSettings.load(store, new FakeClock(), { ...defaults, mode: 'allot', legacyConfigured: false });
    assert.equal(s.route('x'), 'allot');
    await assert.rejects(s.update({ rollback: true }, 'admin'), (e: unknown) => e instanceof AllotError && e.details?.field === 'rollback');
    await assert.rejects(s.update({ mode: 'rollout' }, 'admin'), (e: unknown) => e instanceof AllotError && e.details?.field === 'mode');
    await store.close();
  });
});
