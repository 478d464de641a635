import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { scoreSentences, splitSentences, summarize, tokenCount, truncateToTokens } from '../../examples/summarizer/summarize.ts';

const TEXT = [
  'The city council met on Monday evening.',
  'Solar power adoption keeps rising because solar panels got cheaper and solar power plants now sell power below coal prices.',
  'Several residents complained about parking.',
  'Analysts expect solar power to supply a third of all power within a decade.',
  'The meeting ended at nine.',
].join(' ');

describe('splitSentences', () => {
  test('splits on sentence ends but not on titles, initials or decimals', () => {
    assert.deepEqual(splitSentences('Dr. Smith measured 3.5 GW. J. R. Tolkien wrote books! Did it work? Yes.'), [
      'Dr. Smith measured 3.5 GW.',
      'J. R. Tolkien wrote books!',
      'Did it work?',
      'Yes.',
    ]);
  });

  test('joins hard-wrapped lines, breaks at blank lines, normalizes whitespace', () => {
    assert.deepEqual(splitSentences('  One\ntwo   three.   Four.  '), ['One two three.', 'Four.']);
    assert.deepEqual(splitSentences('A heading\r\n\r\nBody text here.'), ['A heading', 'Body text here.']);
    assert.deepEqual(splitSentences('   '), []);
  });
});

describe('summarize', () => {
  test('the top sentence is the one carrying the most frequent content words', () => {
    const scores = scoreSentences(splitSentences(TEXT));
    const best = scores.indexOf(Math.max(...scores));
    assert.equal(best, 1);
    const { summary, sentences } = summarize(TEXT, 1);
    assert.equal(sentences.length, 1);
    assert.match(summary, /^Solar power adoption keeps rising/);
  });

  test('keeps the top N in original order', () => {
    const { sentences, summary } = summarize(TEXT, 2);
    assert.deepEqual(sentences, [splitSentences(TEXT)[1], splitSentences(TEXT)[3]]);
    assert.equal(summary, sentences.join(' '));
  });

  test('returns every sentence when fewer than N exist, and nothing for empty text', () => {
    assert.deepEqual(summarize('Only one sentence here.', 3).sentences, ['Only one sentence here.']);
    assert.deepEqual(summarize('', 3), { summary: '', sentences: [] });
  });

  test('output never exceeds max_tokens', () => {
    for (let max = 0; max <= 80; max++) {
      const { summary, sentences } = summarize(TEXT, 3, max);
      assert.ok(tokenCount(summary) <= max, `max_tokens=${max} gave ${tokenCount(summary)} tokens`);
      assert.equal(summary, sentences.join(' '));
      if (max >= 5) assert.ok(summary.length > 0, `max_tokens=${max} should still produce text`);
    }
    // With room for everything the limit changes nothing.
    assert.deepEqual(summarize(TEXT, 3, 10_000), summarize(TEXT, 3));
  });

  test('truncateToTokens cuts at a word boundary within budget', () => {
    const cut = truncateToTokens('alpha beta gamma delta epsilon zeta eta theta', 4);
    assert.ok(tokenCount(cut) <= 4);
    assert.ok('alpha beta gamma delta epsilon zeta eta theta'.startsWith(cut));
    assert.ok(cut.length > 0 && !cut.endsWith(' '));
  });

  test('tokenCount treats special-token spellings in client text as plain text', () => {
    assert.ok(tokenCount('before <|endoftext|> after') > 3);
  });
});
