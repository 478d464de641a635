/** Commands that run on Allot's own machine, on its configuration and database: db migrate, config check. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { WorkerDef } from '../model.ts';
import { Secrets, SecretKeyError } from '../service/secrets.ts';
import { ConfigError, resolveConfig, type ResolvedConfig } from '../config/resolve.ts';
import { redactUrl } from '../core/redact.ts';
import { openAndMigrate, openStore } from '../store/open.ts';

export function config(): ResolvedConfig {
  return resolveConfig(process.env);
}

/**
 * What start-up checks beyond the file, against the database as it is (read,
 * never written: a SQLite file that does not exist yet is not created, nor a
 * key file): that PostgreSQL and Redis answer (scaled out), that a
 * template's worker is in the config or the database, and that every worker
 * token stored sealed opens with the key start-up would use.
 */
async function checkAgainstDatabase(c: ResolvedConfig): Promise<string[]> {
  const issues: string[] = [];
  const known = new Set(c.workers.map((w) => w.name));
  if (c.scaleOut) issues.push(...(await redisIssues(c.scaleOut.redisUrl)));
  let stored: WorkerDef[] = [];
  let storedKey: string | null = null;
  if (c.scaleOut || existsSync(c.dbPath)) {
    const { store } = openStore(c, { applicationName: 'allot config check' });
    try {
      stored = await store.listWorkers();
      storedKey = c.scaleOut ? await store.getSetting('secret_key') : null;
    } catch (err) {
      // No schema yet (never started) is fine; a database that does not answer is not.
      if (c.scaleOut && !/does not exist/.test((err as Error).message)) {
        issues.push(`ALLOT_DATABASE_URL: cannot read ${redactUrl(c.scaleOut.databaseUrl)}: ${(err as Error).message}`);
      }
    } finally {
      await store.close().catch(() => {});
    }
  }
  const inDb = new Set(stored.map((w) => w.name));
  for (const t of c.templates) {
    if (!known.has(t.worker) && !inDb.has(t.worker)) issues.push(`templates.${t.name}.worker: no worker named "${t.worker}" in the config or the database`);
  }
  const sealed = stored.filter((w) => w.token && Secrets.isSealed(w.token));
  if (sealed.length) {
    const keyFile = join(dirname(c.dbPath), 'secret.key');
    let secrets: Secrets | null = null;
    try {
      if (c.scaleOut) secrets = storedKey ? Secrets.fromStored({ secretKey: c.secretKey, storedKey }) : c.secretKey ? Secrets.load({ secretKey: c.secretKey, dbPath: ':memory:' }) : null;
      else if (c.secretKey || existsSync(keyFile)) secrets = Secrets.load({ secretKey: c.secretKey, dbPath: c.dbPath });
      if (!secrets) issues.push(`ALLOT_SECRET_KEY: ${sealed.length} stored worker token(s) are sealed, and there is no key to open them (set ALLOT_SECRET_KEY${c.scaleOut ? '' : ` or restore ${keyFile}`})`);
    } catch (err) {
      if (!(err instanceof SecretKeyError)) throw err;
      issues.push(`ALLOT_SECRET_KEY: ${err.message}`);
    }
    for (const w of secrets ? sealed : []) {
      try {
        secrets?.openAny(w.token as string);
      } catch (err) {
        if (!(err instanceof SecretKeyError)) throw err;
        issues.push(`ALLOT_SECRET_KEY: workers.${w.name}: ${err.message}`);
        break;
      }
    }
  }
  return issues;
}

/** Whether Redis answers PING within a few seconds. */
async function redisIssues(url: string): Promise<string[]> {
  const { Redis } = await import('ioredis');
  const r = new Redis(url, { lazyConnect: true, connectTimeout: 3_000, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  r.on('error', () => {});
  try {
    await r.connect();
    await r.ping();
    return [];
  } catch (err) {
    return [`ALLOT_REDIS_URL: cannot reach ${redactUrl(url)}: ${(err as Error).message}`];
  } finally {
    r.disconnect();
  }
}

export async function dbMigrate(): Promise<number> {
  const c = config();
  const { store, migrations, describe } = await openAndMigrate(c, { applicationName: 'allot db migrate' });
  try {
    process.stdout.write(`${describe}\n`);
    for (const m of migrations) process.stdout.write(`${String(m.version).padStart(4, '0')} ${m.name}: ${m.status}\n`);
  } finally {
    await store.close();
  }
  return 0;
}

export async function configCheck(): Promise<number> {
  const c = config();
  const issues = await checkAgainstDatabase(c);
  if (issues.length) throw new ConfigError(issues, c.configPath ?? 'config');
  process.stdout.write(`${JSON.stringify(
    {
      host: c.host, port: c.port, db: c.scaleOut ? { postgres: redactUrl(c.scaleOut.databaseUrl), schema: c.scaleOut.databaseSchema ?? null, redis: redactUrl(c.scaleOut.redisUrl) } : c.dbPath, config: c.configPath ?? null, admin_key: c.adminKey ? 'set (ALLOT_ADMIN_KEY)' : 'generated on first start',
      tiers: Object.fromEntries(c.tiers), resources: Object.fromEntries(c.resources), workers: c.workers.map((w) => w.name), templates: c.templates.map((t) => t.name),
    },
    null, 2,
  )}\nconfiguration OK\n`);
  return 0;
}
