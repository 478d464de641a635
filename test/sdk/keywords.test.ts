import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_PHRASE_WORDS, candidatePhrases, extractKeywords, fitToTokens, keywordText, tokenCount } from '../../examples/keywords/rake.ts';
import { STOP_WORDS } from '../../examples/keywords/stopwords.ts';

// The sample abstract from the RAKE paper (Rose et al., 2010).
const ABSTRACT =
  'Compatibility of systems of linear constraints over the set of natural numbers. Criteria of compatibility of a system ' +
  'of linear Diophantine equations, strict inequations, and nonstrict inequations are considered. Upper bounds for ' +
  'components of a minimal set of solutions and algorithms of construction of minimal generating sets of solutions for ' +
  'all types of systems are given. These criteria and the corresponding algorithms for constructing a minimal supporting ' +
  'set of solutions can be used in solving all the considered types of systems and systems of mixed types.';

describe('RAKE keywords', () => {
  test('candidates split at stop words, numbers and punctuation', () => {
    assert.deepEqual(candidatePhrases('Deep learning, in 2024, is used for image recognition.'), [
      ['deep', 'learning'],
      ['image', 'recognition'],
    ]);
  });

  test('finds the obvious multi-word phrases first', () => {
    const keywords = extractKeywords(ABSTRACT, 10);
    const phrases = keywords.map((k) => k.phrase);
    assert.ok(phrases.includes('linear diophantine equations'), phrases.join(' | '));
    assert.ok(phrases.includes('minimal generating sets'), phrases.join(' | '));
    assert.ok(phrases.slice(0, 3).includes('linear diophantine equations'));
    for (let i = 1; i < keywords.length; i++) assert.ok((keywords[i - 1]?.score ?? 0) >= (keywords[i]?.score ?? 0));
  });

  test('phrases are unique, bounded in length and contain no stop words', () => {
    const keywords = extractKeywords(ABSTRACT, 100);
    const phrases = keywords.map((k) => k.phrase);
    assert.equal(new Set(phrases).size, phrases.length);
    for (const p of phrases) {
      const words = p.split(' ');
      assert.ok(words.length <= MAX_PHRASE_WORDS);
      for (const w of words) assert.ok(!STOP_WORDS.has(w), `"${w}" in "${p}"`);
    }
  });

  test('limit caps the list; empty text gives none', () => {
    assert.equal(extractKeywords(ABSTRACT, 3).length, 3);
    assert.deepEqual(extractKeywords('', 10), []);
    assert.deepEqual(extractKeywords('the and of it', 10), []);
  });

  test('output never exceeds max_tokens and keeps the best-ranked prefix', () => {
    const all = extractKeywords(ABSTRACT, 20);
    for (let max = 0; max <= 120; max++) {
      const fitted = fitToTokens(all, max);
      assert.ok(tokenCount(keywordText(fitted)) <= max, `max_tokens=${max}`);
      assert.deepEqual(fitted, all.slice(0, fitted.length));
    }
    assert.deepEqual(fitToTokens(all, 10_000), all);
  });
});
