/** The client's text/event-stream parser against the HTML standard's rules, fed in every possible split. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createSseParser, type SseMessage } from '../../packages/client/src/index.ts';

/** Parse `text` whole, then in every two-piece split and one char at a time: all must agree. */
function parseAll(text: string): SseMessage[] {
  const whole = createSseParser().push(text);
  for (let i = 0; i <= text.length; i++) {
    const p = createSseParser();
    assert.deepEqual([...p.push(text.slice(0, i)), ...p.push(text.slice(i))], whole, `split at ${i}: ${JSON.stringify(text)}`);
  }
  const p = createSseParser();
  assert.deepEqual([...text].flatMap((ch) => p.push(ch)), whole, 'one char at a time');
  return whole;
}

test('multi-line data is joined with LF; event names and the default "message"', () => {
  assert.deepEqual(parseAll('event: progress\ndata: {"a":\ndata: 1}\n\ndata: plain\n\n'), [
    { event: 'progress', data: '{"a":\n1}', id: '' },
    { event: 'message', data: 'plain', id: '' },
  ]);
});

test('CRLF, CR and LF all end lines, a CRLF split across chunks is one line end', () => {
  assert.deepEqual(parseAll('data: a\r\n\r\ndata: b\r\rdata: c\n\n'), [
    { event: 'message', data: 'a', id: '' },
    { event: 'message', data: 'b', id: '' },
    { event: 'message', data: 'c', id: '' },
  ]);
});

test('comments are ignored, an event with no data is not dispatched, an unfinished one is not either', () => {
  assert.deepEqual(parseAll(': keep-alive\n\nevent: status\n\n:x\ndata: d\n\nevent: end\ndata: late'), [{ event: 'message', data: 'd', id: '' }]);
});

test('only one space after the colon is dropped; a line without a colon is a field with an empty value', () => {
  assert.deepEqual(parseAll('data:  two\ndata\ndata:x\n\n'), [{ event: 'message', data: ' two\n\nx', id: '' }]);
});

test('id carries over to later events and is ignored with NUL; retry takes digits only; a leading BOM is dropped', () => {
  const p = createSseParser();
  const out = [...p.push('\uFEFFid: 7\nretry: 1500\ndata: a\n\n'), ...p.push('data: b\n\nid: 8\0\nretry: 2x\ndata: c\n\nid\ndata: d\n\n')];
  assert.deepEqual(out, [
    { event: 'message', data: 'a', id: '7' },
    { event: 'message', data: 'b', id: '7' },
    { event: 'message', data: 'c', id: '7' },
    { event: 'message', data: 'd', id: '' },
  ]);
  assert.equal(p.retryMs, 1500);
  assert.equal(p.lastEventId, '');
  // The BOM is dropped only at the very start of the stream.
  assert.deepEqual(parseAll('\uFEFFdata: x\n\n'), [{ event: 'message', data: 'x', id: '' }]);
  assert.deepEqual(createSseParser().push('data: x\n\n\uFEFFdata: y\n\n').map((m) => m.data), ['x']);
});
