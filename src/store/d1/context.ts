/**
 * The D1 binding as the D1 store uses it, typed structurally (the Workers
 * binding, or miniflare's). D1 runs SQLite, so the D1 store shares the
 * SQLite store's schema (its migrations); what differs is that every call
 * is a round trip and only a batch is atomic.
 */

/** A row as D1 returns it. */
export type Row = Record<string, unknown>;

export interface D1Meta {
  readonly changes: number;
  readonly last_row_id: number;
}

export interface D1Result<T = Row> {
  readonly results: T[];
  readonly meta: D1Meta;
}

export interface D1Statement {
  bind(...values: unknown[]): D1Statement;
  first<T = Row>(): Promise<T | null>;
  all<T = Row>(): Promise<D1Result<T>>;
  run(): Promise<D1Result>;
}

export interface D1Like {
  prepare(query: string): D1Statement;
  /** Runs the statements in order, in one transaction: all or none. */
  batch<T = Row>(statements: D1Statement[]): Promise<D1Result<T>[]>;
}
