/**
 * `npm start`: resolve config from the environment, start Allot, stop it
 * cleanly on SIGTERM/SIGINT (finishing running work for up to 10 s).
 */
import { startAllot } from './boot.ts';
import { ConfigError, resolveConfig } from './config/resolve.ts';

async function main(): Promise<void> {
  let config;
  try {
    config = resolveConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  let allot;
  try {
    allot = await startAllot(config);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (allot.generatedAdminKey) {
    process.stdout.write(
      `\nAdmin key (shown once; stored only as a hash): ${allot.generatedAdminKey}\n` +
        'Set ALLOT_ADMIN_KEY to choose your own. Use it as "Authorization: Bearer <key>" on /admin endpoints.\n\n',
    );
  }
  process.stdout.write(`Allot listening on ${allot.url}\n`);
  const shutdown = (sig: string): void => {
    process.stdout.write(`${sig}: stopping (running work may take up to 10 s to finish)\n`);
    allot.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`shutdown failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

await main();
