/**
 * The cluster bus on PostgreSQL: LISTEN/NOTIFY on one channel per schema,
 * with a polling backstop. NOTIFY is delivered only to sessions listening
 * at the time, so a listener that reconnects may have missed messages: it
 * then fires `onResync`, as does a timer every `pollMs`.
 *
 * One dedicated connection listens (a pooled one could be handed to another
 * query); publishing goes through the pool with `pg_notify`, outside any
 * transaction of the store, after the change it announces has committed.
 *
 * Messages are sent in batches: those published within `lingerMs` (5 ms)
 * of the first, and those published while the previous batch was being
 * sent, go out as one statement (a notification carries as many as fit in
 * its 8,000 bytes), in the order published. Under load that is one round
 * trip for many transitions instead of one each (at most 200 a second),
 * and never more than one pool connection for the bus; other instances hear
 * of a change up to `lingerMs` later.
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
  /** How long a batch waits for more messages before it is sent. @default 5 */
  readonly lingerMs?: number;
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
  /** Published, not yet sent (JSON of each `{ t, m }`). */
  #pending: string[] = [];
  #sending = false;
  #flushing: Promise<void> = Promise.resolve();
  /** Bytes of a batch's envelope around its messages. */
  readonly #envelope: number;

  private constructor(o: PgBusOptions) {
    this.#o = o;
    this.#envelope = Buffer.byteLength(`{"from":${JSON.stringify(o.self)},"b":[]}`);
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
        const { from, b } = JSON.parse(n.payload) as { from: string; b: { t: Topic; m: Message }[] };
        if (from !== this.#o.self) for (const { t, m } of b) this.#emitter.emit(t, m);
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
    const item = JSON.stringify({ t: topic, m: msg });
    if (Buffer.byteLength(item) > MAX_PAYLOAD - this.#envelope) {
      this.#o.onError(new Error(`cluster bus: a ${topic} message of ${item.length} bytes is over the NOTIFY limit; dropped (the poll backstop covers it)`));
      return;
    }
    this.#pending.push(item);
    if (this.#sending) return;
    this.#sending = true;
    this.#flushing = new Promise((done) => setTimeout(() => void this.#flush().finally(done), this.#o.lingerMs ?? 5));
  }

  /** Send what is pending, then what was published meanwhile, until nothing is left. */
  async #flush(): Promise<void> {
    while (this.#pending.length > 0 && !this.#closed) {
      const items = this.#pending;
      this.#pending = [];
      const payloads: string[] = [];
      let batch: string[] = [];
      let bytes = this.#envelope;
      for (const item of items) {
        const n = Buffer.byteLength(item) + 1;
        if (batch.length > 0 && bytes + n > MAX_PAYLOAD) {
          payloads.push(this.#wrap(batch));
          batch = [];
          bytes = this.#envelope;
        }
        batch.push(item);
        bytes += n;
      }
      payloads.push(this.#wrap(batch));
      const calls = payloads.map((_, i) => `pg_notify($1, $${i + 2})`).join(', ');
      await this.#o.pool.query(`SELECT ${calls}`, [this.#o.channel, ...payloads]).catch(this.#o.onError);
    }
    this.#sending = false;
  }

  #wrap(items: string[]): string {
    return `{"from":${JSON.stringify(this.#o.self)},"b":[${items.join(',')}]}`;
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
    // What was published before the close is sent (a clean stop's last announcements).
    await this.#flushing;
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
