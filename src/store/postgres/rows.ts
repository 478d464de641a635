/**
 * Row ↔ entity conversion for the PostgreSQL store. The entities are built
 * by the SQLite store's converters (sqlite/rows.ts), so both stores read and
 * write the same JSON, byte for byte; this module only bridges the column
 * types that differ. A payload that may be compressed (see
 * migrations/0001_init.sql) is one column in SQLite and two here: its JSON
 * text, or its zstd frame in `<name>_zstd`.
 */
import type { WorkRequest } from '../../model.ts';
import { INPUT_PARAM, INSERT_REQUEST, requestParams, toRequest } from '../sqlite/rows.ts';
import { placeholders, type Row, type Val } from './context.ts';

/** The two columns of a payload packed by packJson (a string is JSON text, bytes are a zstd frame). */
export function payloadColumns(name: string, packed: string | Uint8Array | null): Record<string, Val> {
  if (packed === null) return { [name]: null, [`${name}_zstd`]: null };
  return typeof packed === 'string' ? { [name]: packed, [`${name}_zstd`]: null } : { [name]: null, [`${name}_zstd`]: asBuffer(packed) };
}

/** A payload read back: the zstd frame if there is one, else the text (what sqlite/rows.ts unpackJson takes). */
export function payloadValue(r: Row, name: string): unknown {
  return r[`${name}_zstd`] ?? r[name] ?? null;
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

export function toRequestRow(r: Row): WorkRequest {
  return toRequest({ ...r, input: payloadValue(r, 'input'), output: payloadValue(r, 'output') });
}

/** The SQLite store's request columns, in its parameter order (requestParams), so the two stay in step. */
const SQLITE_COLUMNS = (/\(([^)]*)\)\s*VALUES/.exec(INSERT_REQUEST)?.[1] ?? '').split(',').map((s) => s.trim());
const OUTPUT_PARAM = SQLITE_COLUMNS.indexOf('output');
if (SQLITE_COLUMNS[INPUT_PARAM] !== 'input' || OUTPUT_PARAM < 0) throw new Error('sqlite/rows.ts INSERT_REQUEST no longer has input and output where expected');

const COLUMNS = SQLITE_COLUMNS.flatMap((c) => (c === 'input' || c === 'output' ? [c, `${c}_zstd`] : [c]));
/** The requests table's columns a new request sets, in insertRequestParams' order. */
export function requestColumns(): readonly string[] {
  return COLUMNS;
}

/** INSERT of a request; appends `suffix` (ON CONFLICT …, RETURNING …). */
export function insertRequestSql(suffix = ''): string {
  return `INSERT INTO requests (${COLUMNS.join(', ')}) VALUES (${placeholders(COLUMNS.length)}) ${suffix}`;
}

/**
 * Parameters for insertRequestSql, and the stored input (text or zstd frame:
 * the compression saving is recorded from it).
 */
export function insertRequestParams(q: WorkRequest, compressMin: number, inputJson?: Uint8Array, inputZstd?: Uint8Array): { params: Val[]; input: string | Uint8Array } {
  const sqlite = requestParams(q, compressMin, inputJson, inputZstd);
  const params: Val[] = [];
  sqlite.forEach((v, i) => {
    if (i === INPUT_PARAM || i === OUTPUT_PARAM) params.push(...Object.values(payloadColumns(SQLITE_COLUMNS[i] as string, v as string | Uint8Array | null)));
    else params.push(v);
  });
  return { params, input: sqlite[INPUT_PARAM] as string | Uint8Array };
}
