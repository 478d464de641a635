/**
 * Runs in a worker thread: the byte-heavy part of admitting a large input,
 * off the event loop (see token-counter.ts). Messages in:
 * `{ id, input, encoding, serialize }` (encoding null: no model, nothing to count);
 * out: `{ id, count, json, zstd }` (when asked for: the input as UTF-8 JSON, and
 * zstd-compressed when at least `compressMin` bytes; transferred)
 * or `{ id, error }`.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { zstdCompressSync } from 'node:zlib';
import { countTokens, inputText, type Encoding } from './tokenizer.ts';

// Counting is background work; the event loop answers everyone. On Linux a
// thread has its own nice value: lower this one's priority so that, with
// cores scarce, the scheduler runs the event loop first. Best effort.
try {
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  if (Number.isInteger(tid) && tid > 0) setPriority(tid, 10);
} catch {
  // Not Linux, or not permitted: the thread runs at normal priority.
}

const utf8 = new TextEncoder();

parentPort?.on('message', (m: { id: number; input: unknown; encoding: Encoding | null; serialize: boolean; compressMin: number }) => {
  try {
    const count = m.encoding === null ? 0 : countTokens(inputText(m.input), m.encoding);
    if (!m.serialize) {
      parentPort?.postMessage({ id: m.id, count });
      return;
    }
    const json = utf8.encode(JSON.stringify(m.input ?? null));
    // Compressed here too, as the store would (at its threshold), so that the event loop does neither.
    const zstd = m.compressMin > 0 && json.length >= m.compressMin ? new Uint8Array(zstdCompressSync(json)) : undefined;
    parentPort?.postMessage({ id: m.id, count, json, zstd }, [json.buffer as ArrayBuffer, ...(zstd ? [zstd.buffer as ArrayBuffer] : [])]);
  } catch (err) {
    parentPort?.postMessage({ id: m.id, error: err instanceof Error ? err.message : String(err) });
  }
});
