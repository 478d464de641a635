/**
 * Configuration as main.ts reads it: a JSON file named by ALLOT_CONFIG plus
 * environment overrides, resolved by resolveConfig; bad input is a
 * ConfigError whose message names every bad key.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { startAllot } from '../../src/boot.ts';
import { ConfigError, resolveConfig } from '../../src/config/resolve.ts';
import { writeConfig } from '../helpers/app-harness.ts';

/** The ConfigError thrown for `config` (written to a real file) and `env`. */
function configError(config: Record<string, unknown>, env: Record<string, string> = {}): ConfigError {
  try {
    const { dir } = writeConfig(config, env);
    rmSync(dir, { recursive: true, force: true });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('resolveConfig accepted a bad config');
}

const WORKER = { transport: 'http', url: 'http://127.0.0.1:9/' };

describe('resolveConfig: a good file', () => {
  test('resources, tiers, workers, templates and limits are resolved; env names the db and admin key', () => {
    const { config, dir, adminKey } = writeConfig({
      limits: { max_body_bytes: 2048 },
      scheduler: { starvation_ms: 60_000 },
      budget: { time_zone: 'Europe/Paris' },
      tiers: { startup: { priority_points: 15, max_concurrent: 2, monthly_budget_usd: 50 } },
      resources: { 'llm.x': { kind: 'tokens', model: 'x', capacity: 1000, refill_per_s: 10, cost_per_unit_usd: 0.001, output_cost_per_unit_usd: 0.002 } },
      workers: { w: WORKER },
      templates: { t: { worker: 'w', model: 'x', max_tokens: 64, timeout_ms: 1234, retry: { base_delay_ms: 10 } } },
    }, { ALLOT_DB: join(tmpdir(), 'allot-config-test.db') });
    try {
      assert.equal(config.maxBodyBytes, 2048);
      assert.equal(config.starvationMs, 60_000);
      assert.equal(config.budgetTimeZone, 'Europe/Paris');
      assert.equal(config.dbPath, join(tmpdir(), 'allot-config-test.db'));
      assert.equal(config.scaleOut, undefined);
      assert.equal(config.adminKey, adminKey);
      assert.deepEqual(config.tiers.get('startup'), { name: 'startup', priorityPoints: 15, maxConcurrent: 2, monthlyBudgetUsd: 50 });
      assert.equal(config.tiers.get('enterprise')?.priorityPoints, 40, 'default tiers stay');
      const r = config.resources.get('llm.x');
      assert.equal(r?.model, 'x');
      assert.equal(r?.unit, 'unit');
      assert.deepEqual(r?.price, { costPerUnitUsd: 0.001, inputCostPerUnitUsd: undefined, outputCostPerUnitUsd: 0.002 });
      assert.ok(config.resources.has('openai.gpt-4'), 'default resources stay');
      assert.equal(config.workers[0]?.url, WORKER.url);
      const t = config.templates[0];
      assert.equal(t?.model, 'x');
      assert.equal(t?.maxTokens, 64);
      assert.equal(t?.timeoutMs, 1234);
      assert.deepEqual(t?.retry, { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 60_000, factor: 2 });
      assert.ok(Object.isFrozen(config));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('resolveConfig: bad files name the bad key', () => {
  test('a non-numeric capacity', () => {
    const e = configError({ resources: { x: { capacity: 'abc', refill_per_s: 1, cost_per_unit_usd: 0 } } });
    assert.match(e.message, /resources\.x\.capacity/);
    assert.ok(e.issues.some((i) => i.startsWith('resources.x.capacity:')));
  });

  test('an unknown key, at the top and nested', () => {
    const e = configError({ colour: 'red', scheduler: { starvation_minutes: 3 }, workers: { w: { ...WORKER, retries: 2 } } });
    assert.match(e.message, /\bcolour: unknown key/);
    assert.match(e.message, /scheduler\.starvation_minutes: unknown key/);
    assert.match(e.message, /workers\.w\.retries: unknown key/);
  });

  test('several schema problems at once are all named', () => {
    const e = configError({
      resources: { x: { capacity: 'abc', refill_per_s: -1, cost_per_unit_usd: 0 } },
      server: { port: 'eighty' },
      workers: { w: { transport: 'ftp' } },
      servr: {},
    });
    for (const k of ['resources.x.capacity', 'resources.x.refill_per_s', 'server.port', 'workers.w.transport', 'servr']) assert.match(e.message, new RegExp(k.replaceAll('.', '\\.')), k);
    assert.equal(e.issues.length, 5, e.message);
  });

  test('a template with an unknown model, an unknown resource; an http worker without url', () => {
    const e = configError({
      workers: { w: WORKER, bad: { transport: 'http' }, sp: { transport: 'subprocess', url: 'http://x.test/' } },
      templates: { t: { worker: 'w', model: 'gpt-9' }, u: { worker: 'w', resources: { pigeons: 1 } } },
    });
    assert.match(e.message, /templates\.t\.model: "gpt-9"/);
    assert.match(e.message, /templates\.u\.resources\.pigeons/);
    assert.match(e.message, /workers\.bad\.url: required/);
    assert.match(e.message, /workers\.sp\.command: required/);
    assert.match(e.message, /workers\.sp\.url: only for transport "http"/);
  });

  test('cross-field resource rules: tokens need a model, a model belongs to one resource', () => {
    const e = configError({
      resources: {
        a: { kind: 'tokens', capacity: 10, refill_per_s: 1, cost_per_unit_usd: 0 },
        b: { kind: 'tokens', model: 'gpt-4', capacity: 10, refill_per_s: 1, cost_per_unit_usd: 0 },
        c: { kind: 'count', capacity: 10, refill_per_s: 1, cost_per_unit_usd: 0, input_cost_per_unit_usd: 1 },
      },
    });
    assert.match(e.message, /resources\.a\.model: required/);
    assert.match(e.message, /resources\.b\.model: "gpt-4" is already the model of resources\.openai\.gpt-4/);
    assert.match(e.message, /resources\.c: input\/output prices/);
  });

  test('budget time zone and environment variables', () => {
    const e = configError({ budget: { time_zone: 'Mars/Olympus' } }, { ALLOT_PORT: 'abc', ALLOT_ADMIN_KEY: 'short', ALLOT_DB_SYNC: 'SOMETIMES' });
    assert.match(e.message, /budget\.time_zone: "Mars\/Olympus"/);
    assert.match(e.message, /ALLOT_PORT/);
    assert.match(e.message, /ALLOT_ADMIN_KEY/);
    assert.match(e.message, /ALLOT_DB_SYNC/);
  });

  test('a file that is not JSON names ALLOT_CONFIG', () => {
    const dir = mkdtempSync(join(tmpdir(), 'allot-cfg-'));
    try {
      const path = join(dir, 'bad.json');
      writeFileSync(path, '{ "limits": ');
      assert.throws(() => resolveConfig({ ALLOT_CONFIG: path }), (err: unknown) => err instanceof ConfigError && /ALLOT_CONFIG/.test(err.message) && err.message.includes(path));
      assert.throws(() => resolveConfig({ ALLOT_CONFIG: join(dir, 'missing.json') }), (err: unknown) => err instanceof ConfigError && /ALLOT_CONFIG/.test(err.message));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });


  test('schema, cross-field and template problems in one file are all named together', () => {
    const e = configError({
      resources: { x: { capacity: 'abc', refill_per_s: 1, cost_per_unit_usd: 0 } },
      colour: 'red',
      workers: { w: WORKER },
      templates: { t: { worker: 'w', model: 'nope' } },
    });
    assert.match(e.message, /resources\.x\.capacity/);
    assert.match(e.message, /colour: unknown key/);
    assert.match(e.message, /templates\.t\.model: "nope"/);
  });

  test('a schema problem in the file does not hide environment problems', () => {
    const e = configError({ colour: 'red' }, { ALLOT_PORT: 'abc' });
    assert.match(e.message, /colour: unknown key/);
    assert.match(e.message, /ALLOT_PORT/);
  });
});

describe('startAllot with the config', () => {
  test('a config template naming a worker that exists nowhere fails start with a ConfigError naming it', async () => {
    const { config, dir } = writeConfig({ templates: { t: { worker: 'ghost' } } }, { ALLOT_PORT: '0' });
    try {
      await assert.rejects(
        startAllot(config, { logger: pino({ level: 'silent' }) }),
        (err: unknown) => err instanceof ConfigError && /templates\.t\.worker: no worker named "ghost"/.test(err.message),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
