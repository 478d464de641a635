/**
 * Reads request bodies with a size limit. Under @hono/node-server the body
 * is read straight from Node's IncomingMessage and handed to Hono's body
 * cache: going through a web ReadableStream (as hono/body-limit does) cost a
 * fifth of the CPU of a submission. In-process (`app.request()`), the
 * standard Request body is read instead.
 */
import type { IncomingMessage } from 'node:http';
import type { MiddlewareHandler } from 'hono';
import { AllotError } from '../core/errors.ts';
import type { Env } from './deps.ts';
import { LARGE_PAYLOAD_BYTES, largeWork } from '../service/turns.ts';

const tooLarge = (max: number): AllotError =>
  new AllotError('PAYLOAD_TOO_LARGE', `Request bodies are limited to ${max} bytes`, { details: { limit_bytes: max } });

function readIncoming(incoming: IncomingMessage, max: number): Promise<string> {
  return new Promise<Buffer[]>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    incoming.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        incoming.removeAllListeners('data');
        incoming.resume();
        reject(tooLarge(max));
      } else chunks.push(c);
    });
    incoming.once('end', () => resolve(chunks));
    incoming.once('error', reject);
  }).then(async (chunks) => {
    let size = 0;
    for (const c of chunks) size += c.length;
    // A large body is decoded (and then parsed) in a turn of its own, not together with others that arrived at once.
    if (size >= LARGE_PAYLOAD_BYTES) await largeWork.next();
    return chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks, size).toString('utf8');
  });
}

export function readBody(max: number): MiddlewareHandler<Env> {
  return async (c, next) => {
    const m = c.req.method;
    if (m === 'GET' || m === 'HEAD' || m === 'OPTIONS') return next();
    const declared = Number(c.req.header('content-length'));
    if (declared > max) throw tooLarge(max);
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
    if (incoming && typeof incoming.on === 'function') {
      const text = await readIncoming(incoming, max);
      // Hono's body cache holds promises at run time, whatever its declared type says.
      (c.req.bodyCache as Record<string, unknown>).text = Promise.resolve(text);
    } else if (Buffer.byteLength(await c.req.text()) > max) throw tooLarge(max);
    await next();
  };
}
