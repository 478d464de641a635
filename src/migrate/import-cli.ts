/**
 * `allot migrate import <file> [--dry-run] [--json] [--server <url> [--server-local]]`.
 * Exit codes: 0 every row was imported (or would be, in a dry run); 3 some
 * rows are malformed or conflict (the rest was imported; the report lists
 * them); 1 nothing could be imported (unreadable file, not a v2 database,
 * the server refused); 2 bad arguments or configuration.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ResolvedConfig } from '../config/resolve.ts';
import type { ImportReport } from './import.ts';
import { formatReport } from './report.ts';
import { elapsedPrinter, progressPrinter } from '../cli/progress.ts';
import { importIntoDatabase } from './run.ts';
import { readV2File, V2SourceError } from './v2-source.ts';

export const EXIT = Object.freeze({ ok: 0, failed: 1, usage: 2, attention: 3 });

const USAGE = 'Usage: allot migrate import <file> [--dry-run] [--json] [--server <url> [--server-local]]\n';

export interface ImportArgs {
  readonly file: string;
  readonly dryRun?: boolean | undefined;
  readonly json?: boolean | undefined;
  readonly server?: string | undefined;
  readonly serverLocal?: boolean | undefined;
}

export async function migrateImport(a: ImportArgs, config: () => ResolvedConfig): Promise<number> {
  if (a.serverLocal && !a.server) {
    process.stderr.write(`allot migrate import: --server-local needs --server\n${USAGE}`);
    return EXIT.usage;
  }
  const values = { 'dry-run': a.dryRun, json: a.json, server: a.server, 'server-local': a.serverLocal };
  const file = a.file;
  const dryRun = values['dry-run'] ?? false;
  let report: ImportReport;
  try {
    report = values.server
      ? await viaServer(values.server, file, { dryRun, local: values['server-local'] ?? false })
      : await importIntoDatabase(readV2File(file), config(), { dryRun, onProgress: progressPrinter(process.stderr) });
  } catch (err) {
    if (err instanceof V2SourceError || err instanceof ServerError) {
      process.stderr.write(`allot migrate import: ${err.message}\n`);
      return EXIT.failed;
    }
    throw err;
  }
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  if (!values.server && !dryRun && report.taken_over > 0) {
    // The scheduler rebuilds its queue (and the registry its clients and templates) only when it starts.
    process.stderr.write('Note: queued work taken over here starts when Allot next starts; a server already running on this database does not see it (import with --server instead).\n');
  }
  return report.ok ? EXIT.ok : EXIT.attention;
}

class ServerError extends Error {}

/** POST /admin/migration/import on a running Allot, with the file's bytes (or, server-local, its path). */
async function viaServer(base: string, file: string, o: { dryRun: boolean; local: boolean }): Promise<ImportReport> {
  const key = process.env.ALLOT_ADMIN_KEY;
  if (!key) throw new ServerError('--server needs the admin key in ALLOT_ADMIN_KEY');
  let body: Record<string, unknown>;
  if (o.local) body = { path: file, dry_run: o.dryRun };
  else {
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch (err) {
      throw new V2SourceError(`cannot read "${file}": ${(err as Error).message}`);
    }
    body = { data_base64: bytes.toString('base64'), name: resolve(file), dry_run: o.dryRun };
  }
  let res: Response;
  let text: string;
  // The server imports in one request and says nothing until it is done: how long it has taken, meanwhile.
  const waiting = elapsedPrinter(process.stderr, `importing through ${base}`);
  try {
    res = await fetch(new URL('/admin/migration/import', base), {
      method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    text = await res.text();
  } catch (err) {
    throw new ServerError(`cannot reach ${base}: ${(err as Error).message}`);
  } finally {
    waiting.stop();
  }
  if (res.status !== 200) {
    let message = text;
    try {
      message = (JSON.parse(text) as { error: { message: string } }).error.message;
    } catch {
      // Not the error envelope: show the body as it came.
    }
    const hint = res.status === 413 ? ' (copy the file to the server and use --server-local)' : '';
    throw new ServerError(`the server answered ${res.status}: ${message}${hint}`);
  }
  return JSON.parse(text) as ImportReport;
}
