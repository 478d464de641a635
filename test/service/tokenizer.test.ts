/**
 * Token counting: each model's own encoding, counts that add up when the
 * text is counted in segments, and bounded time on inputs that made the BPE
 * quadratic (one megabyte of "aaaa…" took gpt-tokenizer 344 s in one piece).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { zstdDecompressSync } from 'node:zlib';
import fc from 'fast-check';
import { countTokens as cl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { countTokens as o200k } from 'gpt-tokenizer/encoding/o200k_base';
import { defaultInputOverhead, encodingForModel } from '../../src/core/model-names.ts';
import { countTokens, inputText, LONG_RUN, segments } from '../../src/service/tokenizer.ts';
import { TokenCounter } from '../../src/service/token-counter.ts';

describe('encodingForModel', () => {
  it('names the encoding of each OpenAI family, o200k_base for the current ones', () => {
    const cases: [string, string][] = [
      ['gpt-4o', 'o200k_base'], ['gpt-4o-mini', 'o200k_base'], ['gpt-4o-2024-08-06', 'o200k_base'], ['chatgpt-4o-latest', 'o200k_base'],
      ['gpt-4.1', 'o200k_base'], ['gpt-4.1-nano', 'o200k_base'], ['gpt-5', 'o200k_base'], ['gpt-5-mini', 'o200k_base'],
      ['o1', 'o200k_base'], ['o1-mini', 'o200k_base'], ['o3-mini', 'o200k_base'], ['o4-mini', 'o200k_base'], ['openai/gpt-4o', 'o200k_base'],
      ['gpt-4', 'cl100k_base'], ['gpt-4-turbo', 'cl100k_base'], ['gpt-4-32k', 'cl100k_base'], ['gpt-3.5', 'cl100k_base'], ['gpt-3.5-turbo', 'cl100k_base'],
      ['gpt-35-turbo', 'cl100k_base'], ['text-embedding-3-small', 'cl100k_base'], ['text-embedding-ada-002', 'cl100k_base'],
      ['text-davinci-003', 'p50k_base'], ['code-davinci-002', 'p50k_base'], ['davinci', 'r50k_base'], ['text-curie-001', 'r50k_base'],
      ['claude-3-5-sonnet', 'o200k_base'], ['llama-3-70b', 'o200k_base'],
    ];
    for (const [model, enc] of cases) assert.equal(encodingForModel(model), enc, model);
  });

  it('chat models bill 7 tokens per request beyond the text; embedding and completion models none', () => {
    for (const m of ['gpt-4', 'gpt-3.5', 'gpt-4o-mini', 'o3-mini', 'claude-3-haiku', 'sim-model']) assert.equal(defaultInputOverhead(m), 7, m);
    for (const m of ['text-embedding-3-small', 'text-embedding-ada-002', 'text-davinci-003', 'davinci', 'ada', 'gpt-3.5-turbo-instruct']) assert.equal(defaultInputOverhead(m), 0, m);
  });
});

describe('countTokens', () => {
  const SAMPLE = 'const x = await fetch(`https://example.com/${id}`); // Größenordnung: 東京都の人口は約1400万人です。 Hello there, world!';

  it('counts in the encoding asked for (cl100k_base by default)', () => {
    assert.equal(countTokens(SAMPLE), cl100k(SAMPLE));
    assert.equal(countTokens(SAMPLE, 'o200k_base'), o200k(SAMPLE));
    assert.notEqual(cl100k(SAMPLE), o200k(SAMPLE), 'the sample tells the two encodings apart');
    assert.equal(countTokens(''), 0);
  });

  it('segments of ordinary text add up to the whole text’s count, exactly, in both encodings', () => {
    const word = fc.stringMatching(/^[A-Za-zÀ-ÿ0-9'.,;:!?()\-東京都の]{1,12}$/);
    const sep = fc.constantFrom(' ', ' ', ' ', '  ', '\n', ', ', '. ', '\n\n', '\t');
    fc.assert(
      fc.property(fc.array(fc.tuple(word, sep), { minLength: 1, maxLength: 4000 }), (parts) => {
        const text = parts.map(([w, s]) => w + s).join('');
        const segs = [...segments(text)];
        assert.equal(segs.join(''), text, 'the segments are the text');
        for (const [enc, f] of [['cl100k_base', cl100k], ['o200k_base', o200k]] as const) {
          assert.equal(countTokens(text, enc), f(text), `${enc}: ${segs.length} segments`);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('a long text of ordinary words is cut into many segments, and still counts exactly', () => {
    const text = 'Token buckets refill at a steady rate, and a budget hold covers the worst case. '.repeat(3000);
    assert.ok([...segments(text)].length > 10);
    assert.equal(countTokens(text), cl100k(text));
    assert.equal(countTokens(text, 'o200k_base'), o200k(text));
  });

  it('counts pathological runs in bounded time, never fewer tokens than the text has', () => {
    // Each of these is one pre-tokenized piece to gpt-tokenizer: quadratic in its length.
    const runs = { letters: 'a'.repeat(1_000_000), cjk: '漢字仮名交じり文'.repeat(25_000), punctuation: '!@#$%^&*()'.repeat(20_000), spaces: ' '.repeat(200_000) };
    for (const [name, text] of Object.entries(runs)) {
      const t0 = performance.now();
      const n = countTokens(text);
      const ms = performance.now() - t0;
      // Whole-piece counting of the same text is far slower (minutes for the first); segment counting is linear.
      assert.ok(ms < 20_000, `${name}: ${ms.toFixed(0)} ms`);
      const sample = text.slice(0, 4 * LONG_RUN);
      assert.ok(countTokens(sample) >= cl100k(sample), `${name}: a cut inside a run may count more, never fewer`);
      assert.ok(n > 0);
    }
  });
});

describe('inputText', () => {
  it('reads string, number and boolean leaves in document order, one per line, keys left out', () => {
    assert.equal(inputText({ a: 'one', b: [2, { c: true, d: null }], e: 'five' }), 'one\n2\ntrue\nfive');
  });

  it('walks inputs nested deeper than the stack would allow', () => {
    let v: unknown = 'leaf';
    for (let i = 0; i < 100_000; i++) v = [v];
    assert.equal(inputText(v), 'leaf');
  });
});

describe('TokenCounter', () => {
  it('measures short inputs at once, long ones on a worker thread (which also serializes them), with the same count', async () => {
    const tc = new TokenCounter({ inlineChars: 100 });
    try {
      const short = tc.measure('c', { q: 'hello world' }, 'cl100k_base');
      assert.deepEqual(short, { tokens: cl100k('hello world') }, 'short inputs are counted inline, not serialized');
      const input = { title: 'Foxes', body: ['The quick brown fox jumps over the lazy dog. '.repeat(2000), 42, true], meta: { lang: 'en' } };
      const p = tc.measure('c', input, 'o200k_base');
      assert.ok(p instanceof Promise, 'long inputs go to a thread');
      const m = await p;
      assert.equal(m.tokens, o200k(inputText(input)));
      assert.equal(Buffer.from(m.json as Uint8Array).toString('utf8'), JSON.stringify(input), 'the input as UTF-8 JSON, ready to store');
      assert.equal(zstdDecompressSync(m.zstd as Uint8Array).toString('utf8'), JSON.stringify(input), 'and compressed, as the store would');
      assert.equal((await tc.measure('c', input, null)).tokens, 0, 'no model: nothing to count');
      assert.equal(await tc.count('c', inputText(input), 'cl100k_base'), cl100k(inputText(input)));
    } finally {
      await tc.close();
    }
  });

  it('takes clients in turn: a client with many long texts does not hold up another’s', async () => {
    const tc = new TokenCounter({ inlineChars: 100, threads: 1 });
    try {
      const big = 'lorem ipsum dolor sit amet '.repeat(40_000);
      const order: string[] = [];
      const heavy = Array.from({ length: 6 }, (_, i) => tc.count('heavy', big, 'cl100k_base').then(() => order.push(`heavy-${i}`)));
      const light = tc.count('light', 'a small question '.repeat(20), 'cl100k_base').then(() => order.push('light'));
      await Promise.all([...heavy, light]);
      assert.equal(order.indexOf('light'), 1, `light was counted at turn ${order.indexOf('light')}: ${order.join(', ')}`);
    } finally {
      await tc.close();
    }
  });

  it('refuses (503 QUEUE_BACKUP) when one client has too much text waiting, and frees room as it is counted', async () => {
    const tc = new TokenCounter({ inlineChars: 100, maxPendingCharsPerClient: 250_000 });
    try {
      const text = 'word '.repeat(40_000); // 200,000 characters
      const first = tc.count('greedy', text, 'cl100k_base');
      await assert.rejects(tc.count('greedy', text, 'cl100k_base'), (e: { code?: string; retryAfterS?: number }) => e.code === 'QUEUE_BACKUP' && (e.retryAfterS ?? 0) > 0);
      assert.throws(() => tc.measure('greedy', { text }, 'cl100k_base'), (e: { code?: string }) => e.code === 'QUEUE_BACKUP');
      assert.equal(typeof (await tc.count('other', text, 'cl100k_base')), 'number', 'another client is not refused');
      await first;
      assert.equal(await tc.count('greedy', text, 'cl100k_base'), cl100k(text), 'room again once counted');
    } finally {
      await tc.close();
    }
  });
});
