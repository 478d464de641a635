/**
 * What `POST /admin/migration/import` asks of the runtime: import an
 * Orchestrator v2 database given as bytes (base64) or a path on the server's
 * machine. On Node, src/migrate/node-importer.ts reads it with node:sqlite;
 * the HTTP route imports only this type, so that it runs wherever the app
 * does.
 */
import type { ImportReport } from './import.ts';

export interface V2ImportInput {
  /** The database (SQLite file or SQL dump), base64; or `path`. */
  readonly base64?: string | undefined;
  readonly path?: string | undefined;
  /** What to call an upload in the report. */
  readonly name?: string | undefined;
  /** Report what the import would do, on a copy of the database; nothing is written. */
  readonly dryRun: boolean;
}

/** Imports one v2 database; throws AllotError (VALIDATION_ERROR names the field) for a source it cannot read. */
export type V2Importer = (input: V2ImportInput) => Promise<ImportReport>;
