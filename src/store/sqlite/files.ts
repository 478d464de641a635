/**
 * The database holds every client's requests, inputs and outputs: its files
 * are readable by Allot's user only (0600), in a folder Allot creates for it
 * only (0700). SQLite gives the -wal and -shm files the main file's mode, so
 * the main file is created 0600 before SQLite opens it. A folder that
 * existed already is left as it is (it may be /tmp, or shared on purpose),
 * with a warning when others can read it.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/** Prepare `path` for SQLite; returns warnings to log. */
export function prepareDatabaseFile(path: string): string[] {
  if (path === ':memory:' || path.startsWith('file:')) return [];
  const warnings: string[] = [];
  const dir = dirname(path);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  else {
    const mode = statSync(dir).mode & 0o777;
    if (mode & 0o077) warnings.push(`the database folder ${dir} can be read by other users (mode ${mode.toString(8)}); chmod 700 it or set ALLOT_DB to a private folder`);
  }
  if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
  for (const f of [path, `${path}-wal`, `${path}-shm`]) {
    if (existsSync(f) && (statSync(f).mode & 0o077) !== 0) chmodSync(f, 0o600);
  }
  return warnings;
}
