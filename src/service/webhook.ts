/**
 * An operator's webhook, told of alert changes. Deliveries go out one at a
 * time in the order they happened, each tried up to `attempts` times with
 * backoff; one that keeps failing is logged and dropped, so a dead webhook
 * never holds up alerting. The body is JSON; with a secret each attempt is
 * signed in the Standard Webhooks format (standardwebhooks.com), so a
 * receiver can refuse a captured delivery replayed later:
 *
 *     webhook-id: <the delivery's id, the same on every attempt>
 *     webhook-timestamp: <seconds since the epoch, of this attempt>
 *     webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">
 *
 * The key is the secret's bytes after `whsec_` base64-decoded, as the
 * standard's libraries take it, or else the secret's UTF-8 bytes.
 */
import { createHmac, randomUUID } from 'node:crypto';
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
  readonly #queue: { id: string; event: string; body: string }[] = [];
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
    this.#queue.push({ id: `msg_${randomUUID()}`, event, body: JSON.stringify({ event, ...payload, sent_at: new Date().toISOString() }) });
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
    for (let next = this.#queue.shift(); next; next = this.#queue.shift()) await this.#deliver(next.id, next.event, next.body);
  }

  async #deliver(id: string, event: string, body: string): Promise<void> {
    let last = '';
    for (let attempt = 1; attempt <= this.#o.attempts; attempt++) {
      const headers: Record<string, string> = { 'content-type': 'application/json', 'x-allot-event': event, 'webhook-id': id };
      if (this.#o.secret) {
        const timestamp = Math.floor(Date.now() / 1000);
        headers['webhook-timestamp'] = String(timestamp);
        headers['webhook-signature'] = `v1,${standardSignature(this.#o.secret, id, timestamp, body)}`;
      }
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

/** The key a Standard Webhooks secret stands for: base64 after `whsec_`, else the secret's own bytes. */
export function webhookKey(secret: string): Buffer {
  return secret.startsWith('whsec_') ? Buffer.from(secret.slice('whsec_'.length), 'base64') : Buffer.from(secret, 'utf8');
}

/** base64 HMAC-SHA256 of `<id>.<timestamp>.<body>` (Standard Webhooks, v1). */
export function standardSignature(secret: string, id: string, timestamp: number, body: string): string {
  return createHmac('sha256', webhookKey(secret)).update(`${id}.${timestamp}.${body}`).digest('base64');
}
