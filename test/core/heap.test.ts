import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Heap } from '../../src/core/heap.ts';

const minHeap = (): Heap<number> => new Heap<number>((a, b) => a < b);

describe('Heap', () => {
  it('is empty at first', () => {
    const h = minHeap();
    assert.equal(h.size, 0);
    assert.equal(h.peek(), undefined);
    assert.equal(h.pop(), undefined);
    assert.equal(h.size, 0);
  });

  it('pops in ascending order under a < comparator, peeking the next without removing it', () => {
    const h = minHeap();
    for (const v of [5, 3, 8, 1, 9, 2]) h.push(v);
    assert.equal(h.size, 6);
    assert.equal(h.peek(), 1);
    assert.equal(h.size, 6);
    const out: number[] = [];
    while (h.size > 0) out.push(h.pop() as number);
    assert.deepEqual(out, [1, 2, 3, 5, 8, 9]);
  });

  it('keeps duplicates', () => {
    const h = minHeap();
    for (const v of [2, 2, 1, 2, 1]) h.push(v);
    assert.deepEqual([h.pop(), h.pop(), h.pop(), h.pop(), h.pop(), h.pop()], [1, 1, 2, 2, 2, undefined]);
  });

  it('is a max-heap under a > comparator, and works for objects', () => {
    const h = new Heap<{ k: number; id: string }>((a, b) => a.k > b.k);
    h.push({ k: 1, id: 'a' });
    h.push({ k: 3, id: 'b' });
    h.push({ k: 2, id: 'c' });
    assert.deepEqual([h.pop()?.id, h.pop()?.id, h.pop()?.id], ['b', 'c', 'a']);
  });

  it('values() holds exactly the items not yet popped', () => {
    const h = minHeap();
    for (const v of [4, 1, 3]) h.push(v);
    h.pop();
    assert.deepEqual([...h.values()].toSorted(), [3, 4]);
  });

  it('handles undefined-free falsy items such as 0', () => {
    const h = minHeap();
    h.push(0);
    h.push(-1);
    assert.equal(h.pop(), -1);
    assert.equal(h.pop(), 0);
    assert.equal(h.size, 0);
  });

  it('PROPERTY: pushing then popping everything yields sorted order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -50, max: 50 }), { maxLength: 200 }), (xs) => {
        const h = minHeap();
        for (const x of xs) h.push(x);
        assert.equal(h.size, xs.length);
        const out: number[] = [];
        while (h.size > 0) out.push(h.pop() as number);
        assert.deepEqual(out, [...xs].toSorted((a, b) => a - b));
      }),
      { numRuns: 500 },
    );
  });

  it('PROPERTY: random interleaved pushes and pops behave like a sorted list', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.record({ push: fc.integer({ min: -20, max: 20 }) }), fc.constant({ pop: true as const })), { maxLength: 300 }),
        (ops) => {
          const h = minHeap();
          const model: number[] = [];
          for (const op of ops) {
            if ('push' in op) {
              h.push(op.push);
              model.push(op.push);
              model.sort((a, b) => a - b);
            } else {
              assert.equal(h.pop(), model.shift());
            }
            assert.equal(h.size, model.length);
            assert.equal(h.peek(), model[0]);
            assert.deepEqual([...h.values()].toSorted((a, b) => a - b), model);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
