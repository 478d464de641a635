/**
 * `allot <command>`, parsed by commander: every command and option is
 * declared, so `--help` (on any command) and `--version` print and exit
 * without running anything, and a mistake is named with the usage.
 * Exit codes: 0 done; 1 failed; 2 bad arguments or configuration; 3 (import)
 * some rows need attention.
 */
import { Command, CommanderError, Option } from 'commander';
import { CliError, openApi } from './api.ts';
import { operatorCommands } from './operator.ts';
import { top } from './top.ts';

export function buildProgram(version: string, exit: (code: number) => void): Command {
  const program = new Command('allot')
    .description('Allot: the resource manager for AI workloads.\nServer commands read ALLOT_CONFIG (JSON or YAML) and ALLOT_* variables; operator commands talk to a running Allot (ALLOT_URL, ALLOT_ADMIN_KEY).')
    .version(`allot ${version}`, '-V, --version', 'print the version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  const exitWith = (fn: () => Promise<number>) => async () => exit(await fn());

  program.commandsGroup('Server:');
  program.command('start').description('Serve Allot (same as npm start)').action(async () => {
    await import('../main.ts');
  });
  const db = program.command('db').description('Database commands');
  db.command('migrate').description('Apply database migrations (ALLOT_DB, or ALLOT_DATABASE_URL) and list them').action(exitWith(async () => (await import('./server.ts')).dbMigrate()));
  const cfg = program.command('config').description('Configuration commands');
  cfg.command('check').description('Validate the configuration as start-up would, naming each bad key, and print what it resolves to').action(exitWith(async () => (await import('./server.ts')).configCheck()));
  program.command('version').description('Print the version').action(() => {
    process.stdout.write(`allot ${version}\n`);
  });

  const migrate = program.command('migrate').description('Move off Orchestrator v2');
  migrate
    .command('import <file>')
    .description('Import an Orchestrator v2 database (SQLite file or SQL dump) and print a validation report.\nExit 0: all rows imported; 3: some rows malformed or conflicting (listed); 1: nothing could be imported')
    .option('--dry-run', 'import into a copy of the database and report; change nothing')
    .option('--json', 'print the report as JSON')
    .option('--server <url>', 'import through a running Allot (ALLOT_ADMIN_KEY), which starts taken-over work at once')
    .option('--server-local', "with --server: <file> is a path on the server's machine")
    .action(async (file: string, o: { dryRun?: boolean; json?: boolean; server?: string; serverLocal?: boolean }) => {
      const { migrateImport } = await import('../migrate/import-cli.ts');
      const { config } = await import('./server.ts');
      exit(await migrateImport({ file, ...o }, config));
    });
  migrate
    .command('status')
    .description('Rollout, shadow differences and progress of a running Allot (ALLOT_ADMIN_KEY)')
    .option('--url <url>', 'Allot (default: ALLOT_URL, else http://127.0.0.1:8787)')
    .option('--json', 'print as JSON')
    .action(async (o: { url?: string; json?: boolean }) => {
      const { migrateStatus } = await import('../migrate/status-cli.ts');
      exit(await migrateStatus(o));
    });
  migrate
    .command('compare')
    .description('Replay a request mix against Orchestrator v2 and Allot (ALLOT_API_KEY) and print p50/p95/p99 latency and cost for each')
    .option('--v2 <url>', 'Orchestrator v2')
    .option('--allot <url>', 'Allot')
    .option('--requests <n>', 'how many requests', '100')
    .option('--concurrency <c>', 'how many at once', '8')
    .option('--template <name>', 'template to submit', 'summarize')
    .option('--mix <file>', 'a JSON file of requests to replay instead')
    .option('--allot-key <key>', 'client API key for Allot (default: ALLOT_API_KEY)')
    .option('--v2-token <token>', "v2's token")
    .option('--timeout-ms <ms>', 'per request', '60000')
    .option('--json', 'print as JSON')
    .action(async (o: Record<string, string | boolean | undefined>) => {
      const { migrateCompare } = await import('../migrate/compare-cli.ts');
      exit(await migrateCompare({
        v2: o.v2 as string | undefined, allot: o.allot as string | undefined, requests: o.requests as string, concurrency: o.concurrency as string, template: o.template as string,
        mix: o.mix as string | undefined, 'allot-key': o.allotKey as string | undefined, 'v2-token': o.v2Token as string | undefined, 'timeout-ms': o.timeoutMs as string, json: o.json as boolean | undefined,
      }));
    });

  program.commandsGroup('Operators (a running Allot: ALLOT_URL, ALLOT_ADMIN_KEY):');
  operatorCommands(program);
  program
    .command('top')
    .description('A live view: queue by level, resources, workers, what runs, alerts (Ctrl-C to quit)')
    .option('--url <url>', 'Allot (default: ALLOT_URL, else http://127.0.0.1:8787)')
    .option('--key <key>', 'admin key (default: ALLOT_ADMIN_KEY)')
    .addOption(new Option('--interval <seconds>', 'redraw every this many seconds').default('1'))
    .option('--once', 'print one frame and exit')
    .option('--limit <n>', 'running requests shown', '15')
    .action(async (o: { url?: string; key?: string; interval: string; once?: boolean; limit: string }) => {
      const s = Number(o.interval);
      if (!(s >= 0.2 && s <= 3_600)) throw new CliError(`--interval: "${o.interval}" is not a number of seconds from 0.2 to 3600`, 2);
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1_000) throw new CliError(`--limit: "${o.limit}" is not an integer from 1 to 1000`, 2);
      await top(openApi(o), { intervalMs: s * 1_000, once: o.once === true, limit });
    });
  return program;
}

/** Runs the command line; resolves to the exit code, or -1 when the command keeps running (start). */
export async function run(argv: readonly string[], version: string): Promise<number> {
  let code = 0;
  let started = false;
  const program = buildProgram(version, (c) => {
    code = c;
  });
  program.hook('preAction', (_p, action) => {
    started = action.name() === 'start' && action.parent === program;
  });
  if (argv.length === 0) {
    program.outputHelp();
    return 0;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with their exit code 0; usage mistakes were already printed by commander.
      return err.exitCode === 0 ? 0 : 2;
    }
    // A configuration error (config/resolve.ts's ConfigError, loaded only by the commands that read it): one message, no stack.
    if (err instanceof Error && err.name === 'ConfigError') {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    if (err instanceof CliError) {
      process.stderr.write(`allot: ${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
  return started ? -1 : code;
}
