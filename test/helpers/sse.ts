/** Reading a Server-Sent Events response in tests. */
import type { Json } from './app-harness.ts';

export interface SseEvent {
  event: string;
  data: Json;
}

/** Calls `onEvent` with each SSE event from `reader` as it arrives, until the stream closes (or the read fails: aborted). */
export async function eachEvent(reader: ReadableStreamDefaultReader<Uint8Array>, onEvent: (e: SseEvent) => void): Promise<void> {
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      if (event) onEvent({ event, data: JSON.parse(data) });
    }
  }
}

/** Read SSE events from a response until `end` (or the stream closes). */
export async function readEvents(res: Response): Promise<SseEvent[]> {
  const out: SseEvent[] = [];
  await eachEvent((res.body as ReadableStream<Uint8Array>).getReader(), (e) => out.push(e));
  return out;
}
