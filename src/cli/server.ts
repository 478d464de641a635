/** Commands that run on Allot's own machine, on its configuration and database: db migrate, config check. */
import { existsSync } from 'node:fs';
import { ConfigError, resolveConfig, type ResolvedConfig } from '../config/resolve.ts';
import { redactUrl } from '../core/redact.ts';
import { openAndMigrate, openStore } from '../store/open.ts';

export function config(): ResolvedConfig {
  return resolveConfig(process.env);
}

/**
 * Templates whose worker is neither in the config nor in the database (when
 * there is one to look in), as start-up reports them. Looking changes
 * nothing: a SQLite file that does not exist yet is not created.
 */
async function templatesWithoutWorker(c: ResolvedConfig): Promise<string[]> {
  const known = new Set(c.workers.map((w) => w.name));
  let unknown = c.templates.filter((t) => !known.has(t.worker));
  if (unknown.length && (c.scaleOut || existsSync(c.dbPath))) {
    const { store } = openStore(c, { applicationName: 'allot config check' });
    try {
      const stored = new Set((await store.listWorkers()).map((w) => w.name));
      unknown = unknown.filter((t) => !stored.has(t.worker));
    } catch {
      // No schema yet (never started): only the config's workers exist.
    } finally {
      await store.close();
    }
  }
  return unknown.map((t) => `templates.${t.name}.worker: no worker named "${t.worker}" in the config or the database`);
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
  // What start-up checks beyond the file: a template's worker must be in the config or already in the database.
  const missing = await templatesWithoutWorker(c);
  if (missing.length) throw new ConfigError(missing, c.configPath ?? 'config');
  process.stdout.write(`${JSON.stringify(
    {
      host: c.host, port: c.port, db: c.scaleOut ? { postgres: redactUrl(c.scaleOut.databaseUrl), schema: c.scaleOut.databaseSchema ?? null, redis: redactUrl(c.scaleOut.redisUrl) } : c.dbPath, config: c.configPath ?? null, admin_key: c.adminKey ? 'set (ALLOT_ADMIN_KEY)' : 'generated on first start',
      tiers: Object.fromEntries(c.tiers), resources: Object.fromEntries(c.resources), workers: c.workers.map((w) => w.name), templates: c.templates.map((t) => t.name),
    },
    null, 2,
  )}\nconfiguration OK\n`);
  return 0;
}
