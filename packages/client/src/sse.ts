/**
 * A text/event-stream parser as the HTML standard describes it
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):
 * lines end in CRLF, LF or CR (a CR at the end of one chunk and an LF at the
 * start of the next are one line end); a leading BOM is dropped; `:` starts
 * a comment; `data` lines of one event are joined with LF; an event with no
 * data is not dispatched; `id` sets the last event id (not when it contains
 * NUL) and it carries over to later events; `retry` takes digits only.
 */

export interface SseMessage {
  /** The `event` field; "message" when absent. */
  event: string;
  data: string;
  /** The last event id seen so far on this stream ("" when none). */
  id: string;
}

export interface SseParser {
  /** Feed decoded text; returns the messages it completed. */
  push(text: string): SseMessage[];
  /** The last `retry` value, in milliseconds. */
  readonly retryMs: number | undefined;
  readonly lastEventId: string;
}

export function createSseParser(): SseParser {
  let buffer = '';
  let first = true;
  let skipLf = false;
  let event = '';
  let data: string[] = [];
  let lastEventId = '';
  let retryMs: number | undefined;

  const line = (text: string, out: SseMessage[]): void => {
    if (text === '') {
      if (data.length > 0) out.push({ event: event || 'message', data: data.join('\n'), id: lastEventId });
      event = '';
      data = [];
      return;
    }
    if (text.startsWith(':')) return;
    const colon = text.indexOf(':');
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        event = value;
        break;
      case 'data':
        data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) retryMs = Number(value);
        break;
      default:
        break;
    }
  };

  return {
    push(text: string): SseMessage[] {
      const out: SseMessage[] = [];
      let chunk = text;
      if (first && chunk.length > 0) {
        first = false;
        if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
      }
      if (skipLf && chunk.length > 0) {
        if (chunk.startsWith('\n')) chunk = chunk.slice(1);
        skipLf = false;
      }
      buffer += chunk;
      let start = 0;
      for (let i = 0; i < buffer.length; i++) {
        const ch = buffer[i];
        if (ch !== '\n' && ch !== '\r') continue;
        line(buffer.slice(start, i), out);
        if (ch === '\r') {
          if (i + 1 < buffer.length) {
            if (buffer[i + 1] === '\n') i++;
          } else {
            skipLf = true;
          }
        }
        start = i + 1;
      }
      buffer = buffer.slice(start);
      return out;
    },
    get retryMs() {
      return retryMs;
    },
    get lastEventId() {
      return lastEventId;
    },
  };
}
