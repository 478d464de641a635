/**
 * `allot <command>`: operator commands. Each returns an exit code; only
 * this file decides how the process ends.
 *
 *   allot start            serve Allot (same as npm start)
 *   allot db migrate       apply database migrations and list them
 *   allot config check     validate configuration and print what it resolves to
 *   allot migrate import   import an Orchestrator v2 database (src/migrate/)
 *   allot migrate status   rollout, shadow differences and progress of a running Allot
 *   allot migrate compare  replay a request mix against v2 and Allot: p50/p95/p99 latency and cost
 *   allot version
 */
import { ConfigError, resolveConfig, type ResolvedConfig } from './config/resolve.ts';
import { redactUrl } from './core/redact.ts';
import { openAndMigrate, openStore } from './store/open.ts';
import { existsSync } from 'node:fs';

const HELP = `Usage: allot <command>

Commands:
  start           Serve Allot (same as npm start)
  db migrate      Apply database migrations to ALLOT_DB and list them
  config check    Validate the configuration (ALLOT_CONFIG and ALLOT_* variables)
  migrate import <file> [--dry-run] [--json] [--server <url> [--server-local]]
                  Import an Orchestrator v2 database (SQLite file or SQL dump) and
                  print a validation report. Exit 0: all rows imported; 3: some rows
                  malformed or conflicting (listed); 1: the file could not be imported.
                  --server: import through a running Allot (ALLOT_ADMIN_KEY), which
                  starts taken-over work at once; --server-local: <file> is a path
                  on the server's machine
  migrate status [--url URL] [--json]
                  Rollout, shadow differences and progress of a running Allot
                  (ALLOT_ADMIN_KEY; URL defaults to http://127.0.0.1:8787)
  migrate compare --v2 <url> --allot <url> [--requests N] [--concurrency C] [--template T] [--mix FILE]
                  Replay a request mix against Orchestrator v2 and Allot (ALLOT_API_KEY) and
                  print p50/p95/p99 latency and cost for each
  version         Print the version
  help            This text

Configuration comes from ALLOT_CONFIG (a JSON or YAML file; \${NAME} in it is the environment variable NAME) and
ALLOT_* environment variables; see README.md.
`;

function config(): ResolvedConfig {
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

async function run(argv: string[]): Promise<number> {
  const [cmd, sub] = argv;
  switch (cmd) {
    case 'start':
      await import('./main.ts');
      return -1; // keeps running
    case 'db': {
      if (sub !== 'migrate') break;
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
    case 'config': {
      if (sub !== 'check') break;
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
    case 'migrate': {
      if (sub === 'status') return (await import('./migrate/status-cli.ts')).migrateStatus(argv.slice(2));
      if (sub === 'compare') return (await import('./migrate/compare-cli.ts')).migrateCompare(argv.slice(2));
      if (sub !== 'import') {
        process.stderr.write(`allot migrate: ${sub ? `unknown subcommand "${sub}"` : 'a subcommand is required'}: import, status or compare\n\n${HELP}`);
        return 2;
      }
      const { migrateImport } = await import('./migrate/import-cli.ts');
      return migrateImport(argv.slice(2), config);
    }
    case 'version': {
      const { VERSION } = await import('./boot.ts');
      process.stdout.write(`allot ${VERSION}\n`);
      return 0;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return 0;
  }
  process.stderr.write(`allot: unknown command "${argv.join(' ')}"\n\n${HELP}`);
  return 2;
}

try {
  const code = await run(process.argv.slice(2));
  if (code >= 0) process.exitCode = code;
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exitCode = 2;
  } else throw err;
}
