import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { MinHeap } from './min-heap.js';

test('a min-heap pops in priority order whatever the push order', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: -1000, max: 1000 }), { maxLength: 200 }), (values) => {
      const heap = new MinHeap<number>((v) => v);
      for (const v of values) heap.push(v);
      const out: number[] = [];
      while (heap.size > 0) out.push(heap.pop()!);
      assert.deepEqual(out, [...values].sort((a, b) => a - b));
    }),
  );
});

test('filter keeps the heap order', () => {
  const heap = new MinHeap<number>((v) => v);
  for (const v of [5, 3, 9, 1, 7, 2]) heap.push(v);
  heap.filter((v) => v % 2 === 1);
  const out: number[] = [];
  while (heap.size > 0) out.push(heap.pop()!);
  assert.deepEqual(out, [1, 3, 5, 7, 9]);
});
