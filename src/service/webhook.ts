/**
 * An operator's webhook, told of alert changes. Deliveries go out one at a
 * time in the order they happened, each tried up to `attempts` times with
 * backoff; one that keeps failing is logged and dropped, so a dead webhook
 * never holds up alerting. The body is JSON; with a secret it is signed:
 * `X-Allot-Signature: sha256=<HMAC-SHA256 of the body, hex>`.
 */
import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';

export interface WebhookOptions {
  readonly secret?: string | undefined;
  /** @default 3 */
  readonly attempts?: number;
  /** Backoff before the second attempt, doubled after. @default 500 ms */
  readonly baseDelayMs?: number;
  /** One POST gives up after this. @default 5 seconds */
  readonly timeoutMs?: number;
}

export class Webhook {
  readonly url: string;
  readonly #o: Required<Omit<WebhookOptions, 'secret'>> & { secret: string | undefined };
  readonly #log: Logger;
  readonly #queue: { event: string; body: string }[] = [];
  #sending: Promise<void> | undefined;
  #stopped = false;
  /** Deliveries made and dropped, for status views and tests. */
  readonly counts = { delivered: 0, dropped: 0 };

  constructor(url: string, log: Logger, o: WebhookOptions = {}) {
    this.url = url;
    this.#log = log;
    this.#o = { secret: o.secret, attempts: o.attempts ?? 3, baseDelayMs: o.baseDelayMs ?? 500, timeoutMs: o.timeoutMs ?? 5000 };
  }

  /** Queue a delivery of `payload` as event `event`. */
  send(event: string, payload: Record<string, unknown>): void {
    if (this.#stopped) return;
    this.#queue.push({ event, body: JSON.stringify({ event, ...payload, sent_at: new Date().toISOString() }) });
    this.#sending ??= this.#drain().finally(() => (this.#sending = undefined));
  }

  /** Stop taking deliveries; wait (at most `ms`) for those queued. */
  async stop(ms = 5000): Promise<void> {
    this.#stopped = true;
    if (!this.#sending) return;
    let t: NodeJS.Timeout | undefined;
    await Promise.race([this.#sending, new Promise((r) => (t = setTimeout(r, ms)))]);
    clearTimeout(t);
  }

  async #drain(): Promise<void> {
    for (let next = this.#queue.shift(); next; next = this.#queue.shift()) await this.#deliver(next.event, next.body);
  }

  async #deliver(event: string, body: string): Promise<void> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-allot-event': event };
    if (this.#o.secret) headers['x-allot-signature'] = `sha256=${createHmac('sha256', this.#o.secret).update(body).digest('hex')}`;
    let last = '';
    for (let attempt = 1; attempt <= this.#o.attempts; attempt++) {
      try {
        const r = await fetch(this.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(this.#o.timeoutMs) });
        await r.arrayBuffer().catch(() => undefined);
        if (r.ok) {
          this.counts.delivered++;
          return;
        }
        last = `HTTP ${r.status}`;
      } catch (err) {
        last = (err as Error).message;
      }
      if (attempt < this.#o.attempts && !this.#stopped) await new Promise((r) => setTimeout(r, this.#o.baseDelayMs * 2 ** (attempt - 1)));
    }
    this.counts.dropped++;
    this.#log.warn({ url: this.url, event, error: last, attempts: this.#o.attempts }, 'alert webhook delivery failed; dropped');
  }
}
