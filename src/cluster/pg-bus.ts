/**
 * The cluster bus on PostgreSQL: LISTEN/NOTIFY on one channel per schema,
 * with a polling backstop. NOTIFY is delivered only to sessions listening
 * at the time, so a listener that reconnects may have missed messages: it
 * then fires `onResync`, as does a timer every `pollMs`.
 *
 * One dedicated connection listens (a pooled one could be handed to another
 * query); publishing goes through the pool with `pg_notify`, outside any
 * transaction of the store, after the change it announces has committed.
 */
import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { ClusterBus, Message, Topic } from './bus.ts';

export interface PgBusOptions {
  /** Connection settings of the dedicated listening connection. */
  readonly connection: pg.ClientConfig;
  /** Pool to publish through. */
  readonly pool: pg.Pool;
  /** Schema name: instances on other schemas of the same database do not hear each other. */
  readonly channel: string;
  /** This instance: its own messages are not delivered back to it. */
  readonly self: string;
  readonly pollMs: number;
  readonly onError: (err: unknown) => void;
}

/** NOTIFY payloads are limited to 8000 bytes. */
const MAX_PAYLOAD = 7900;

export class PgBus implements ClusterBus {
  readonly shared = true;
  readonly #o: PgBusOptions;
  readonly #emitter = new EventEmitter();
  #client: pg.Client | undefined;
  #closed = false;
  #poll: NodeJS.Timeout;
  #retryMs = 100;

  private constructor(o: PgBusOptions) {
    this.#o = o;
    this.#emitter.setMaxListeners(0);
    this.#poll = setInterval(() => this.#emitter.emit('resync'), o.pollMs).unref();
  }

  /** Connect and listen; rejects if the first connection fails. */
  static async open(o: PgBusOptions): Promise<PgBus> {
    const bus = new PgBus(o);
    try {
      await bus.#connect();
    } catch (err) {
      clearInterval(bus.#poll);
      throw err;
    }
    return bus;
  }

  async #connect(): Promise<void> {
    const c = new pg.Client(this.#o.connection);
    c.on('error', (err) => this.#lost(c, err));
    c.on('end', () => this.#lost(c, new Error('listening connection ended')));
    c.on('notification', (n) => {
      if (n.channel !== this.#o.channel || !n.payload) return;
      try {
        const { t, from, m } = JSON.parse(n.payload) as { t: Topic; from: string; m: Message };
        if (from !== this.#o.self) this.#emitter.emit(t, m);
      } catch (err) {
        this.#o.onError(err);
      }
    });
    await c.connect();
    await c.query(`LISTEN ${pg.escapeIdentifier(this.#o.channel)}`);
    this.#client = c;
    this.#retryMs = 100;
  }

  #lost(c: pg.Client, err: unknown): void {
    if (this.#client !== c) return;
    this.#client = undefined;
    c.removeAllListeners('end');
    void c.end().catch(() => {});
    if (this.#closed) return;
    this.#o.onError(err);
    this.#reconnect();
  }

  #reconnect(): void {
    const wait = this.#retryMs;
    this.#retryMs = Math.min(5_000, this.#retryMs * 2);
    setTimeout(() => {
      if (this.#closed) return;
      this.#connect().then(
        () => this.#emitter.emit('resync'),
        (err: unknown) => {
          this.#o.onError(err);
          this.#reconnect();
        },
      );
    }, wait).unref();
  }

  publish(topic: Topic, msg: Message): void {
    const payload = JSON.stringify({ t: topic, from: this.#o.self, m: msg });
    if (payload.length > MAX_PAYLOAD) {
      this.#o.onError(new Error(`cluster bus: a ${topic} message of ${payload.length} bytes is over the NOTIFY limit; dropped (the poll backstop covers it)`));
      return;
    }
    this.#o.pool.query('SELECT pg_notify($1, $2)', [this.#o.channel, payload]).catch(this.#o.onError);
  }

  on(topic: Topic, handler: (msg: Message) => void): () => void {
    this.#emitter.on(topic, handler);
    return () => this.#emitter.off(topic, handler);
  }

  onResync(handler: () => void): () => void {
    this.#emitter.on('resync', handler);
    return () => this.#emitter.off('resync', handler);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#poll);
    const c = this.#client;
    this.#client = undefined;
    if (c) {
      c.removeAllListeners('end');
      await c.end().catch(() => {});
    }
  }
}
