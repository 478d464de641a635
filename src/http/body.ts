/**
 * Reads request bodies with a size limit, after authentication (see app.ts).
 * Under @hono/node-server the body is read straight from Node's
 * IncomingMessage and handed to Hono's body cache: going through a web
 * ReadableStream (as hono/body-limit does) cost a fifth of the CPU of a
 * submission. In-process (`app.request()`), the standard Request body is
 * read instead.
 *
 * Memory is bounded twice: each body by `max` bytes, and all bodies being
 * read at once by `maxBuffered` bytes (a client past it gets 503
 * QUEUE_BACKUP with Retry-After). A body that does not arrive in time is cut
 * off by the server's request timeout (boot.ts).
 */
import type { IncomingMessage } from 'node:http';
import type { MiddlewareHandler } from 'hono';
import { AllotError } from '../core/errors.ts';
import type { Env } from './deps.ts';
import { LARGE_PAYLOAD_BYTES, largeWork } from '../service/turns.ts';

const tooLarge = (max: number): AllotError =>
  new AllotError('PAYLOAD_TOO_LARGE', `Request bodies are limited to ${max} bytes`, { details: { limit_bytes: max } });

const busy = (limit: number): AllotError =>
  new AllotError('QUEUE_BACKUP', `Too many request bodies are being received at once (${limit} bytes buffered); retry later`, { retryAfterS: 1, details: { buffered_limit_bytes: limit } });

/** Bytes of bodies being read now, all requests. */
class BufferBudget {
  used = 0;
  readonly limit: number;
  constructor(limit: number) {
    this.limit = limit;
  }
}

function readIncoming(incoming: IncomingMessage, max: number, budget: BufferBudget): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let ended = false;
    const release = (): void => {
      budget.used -= size;
      size = 0;
    };
    const stop = (err: AllotError): void => {
      incoming.removeAllListeners('data');
      incoming.pause();
      release();
      reject(err);
    };
    incoming.on('data', (c: Buffer) => {
      if (size + c.length > max) return stop(tooLarge(max));
      if (budget.used + c.length > budget.limit) return stop(busy(budget.limit));
      budget.used += c.length;
      size += c.length;
      chunks.push(c);
    });
    incoming.once('end', () => {
      ended = true;
      const n = size;
      const decode = (): void => {
        release();
        resolve(chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks, n).toString('utf8'));
      };
      // A large body is decoded (and then parsed) in a turn of its own, not together with others that arrived at once.
      if (n >= LARGE_PAYLOAD_BYTES) void largeWork.next().then(decode);
      else decode();
    });
    incoming.once('error', (err) => {
      release();
      reject(err);
    });
    // Closed without its end: the client went away mid-body. (Built only then: an error's stack costs ~20 µs.)
    incoming.once('close', () => {
      if (ended) return;
      release();
      reject(new AllotError('VALIDATION_ERROR', 'The request body ended before it was complete'));
    });
  });
}

/**
 * @param max bytes of one body
 * @param maxBuffered bytes of all bodies being received at once
 */
export function readBody(max: number, maxBuffered: number): MiddlewareHandler<Env> {
  const budget = new BufferBudget(maxBuffered);
  return async (c, next) => {
    const m = c.req.method;
    if (m === 'GET' || m === 'HEAD' || m === 'OPTIONS') return next();
    const declared = Number(c.req.header('content-length'));
    if (declared > max) throw tooLarge(max);
    if (declared > 0 && budget.used + declared > budget.limit) throw busy(budget.limit);
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
    if (incoming && typeof incoming.on === 'function') {
      const text = await readIncoming(incoming, max, budget);
      // Hono's body cache holds promises at run time, whatever its declared type says.
      (c.req.bodyCache as Record<string, unknown>).text = Promise.resolve(text);
    } else if (Buffer.byteLength(await c.req.text()) > max) throw tooLarge(max);
    c.set('bodyRead', true);
    await next();
  };
}
