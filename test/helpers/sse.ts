/** Reading a Server-Sent Events response in tests. */
import type { Json } from './app-harness.ts';

export interface SseEvent {
  event: string;
  data: Json;
}

/** Read SSE events from a response until `end` (or the stream closes). */
export async function readEvents(res: Response): Promise<SseEvent[]> {
  const out: SseEvent[] = [];
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
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
      if (event) out.push({ event, data: JSON.parse(data) });
    }
  }
  return out;
}
