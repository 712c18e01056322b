import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EntryIndex } from './entry-index.js';

/** A seeded pseudo-random generator (so that a failure repeats). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function assertSame(index: EntryIndex<string>, model: Map<number, string>, probe: number[]): void {
  assert.equal(index.size, model.size);
  for (const offset of probe) assert.equal(index.get(offset), model.get(offset), `offset ${offset}`);
  assert.deepEqual([...index.values()].sort(), [...model.values()].sort());
  assert.deepEqual([...index.ascending()], [...model].sort((a, b) => a[0] - b[0]).map(([, value]) => value));
  assert.equal(index.lowest(), model.size === 0 ? null : Math.min(...model.keys()));
}

test('behaves as a map of offsets under a window-like mix of reads ahead, settlements, stragglers and returns', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const next = random(seed);
    // Small limits so that the spill, the gap restart and the span limit all happen.
    const index = new EntryIndex<string>({ spanMax: 256, gapMax: 64 });
    const model = new Map<number, string>();
    let readTo = 0;
    for (let step = 0; step < 20_000; step++) {
      const roll = next();
      if (roll < 0.35) {
        // Read ahead, sometimes past a gap of settled offsets.
        readTo += next() < 0.05 ? Math.floor(next() * 200) : 0;
        index.set(readTo, `e${readTo}`);
        model.set(readTo, `e${readTo}`);
        readTo++;
      } else if (roll < 0.75 && model.size > 0) {
        // Settle mostly old entries, sometimes any (stragglers stay behind).
        const keys = [...model.keys()];
        const offset = next() < 0.7 ? Math.min(...keys) : keys[Math.floor(next() * keys.length)]!;
        assert.equal(index.delete(offset), true);
        model.delete(offset);
      } else if (roll < 0.8) {
        // A parked message returns below (or inside) the stretch.
        const offset = Math.floor(next() * readTo);
        if (!model.has(offset)) {
          index.set(offset, `p${offset}`);
          model.set(offset, `p${offset}`);
        }
      } else if (roll < 0.85) {
        // Settling what is not there (settled already, or never read) changes nothing.
        const offset = Math.floor(next() * (readTo + 10));
        assert.equal(index.delete(offset), model.delete(offset));
      }
      if (step % 500 === 0) assertSame(index, model, Array.from({ length: readTo + 5 }, (_, i) => i));
    }
    assertSame(index, model, Array.from({ length: readTo + 5 }, (_, i) => i));
  }
});

test('memory follows the entries: a straggler far behind the window does not stretch the array', () => {
  const index = new EntryIndex<number>({ spanMax: 1024, gapMax: 64 });
  index.set(0, 0); // held for long
  for (let offset = 1; offset < 100_000; offset++) {
    index.set(offset, offset);
    index.delete(offset - 1 === 0 ? -1 : offset - 1);
  }
  assert.equal(index.size, 2);
  assert.ok(index.span <= 1024, `span ${index.span}`);
  assert.equal(index.get(0), 0);
  assert.equal(index.get(99_999), 99_999);
  assert.equal(index.lowest(), 0);
  assert.deepEqual([...index.values()], [0, 99_999]);
});

test('entries removed while iterating are not visited', () => {
  const index = new EntryIndex<number>();
  for (let offset = 0; offset < 5_000; offset++) index.set(offset, offset);
  const seen: number[] = [];
  for (const value of index.values()) {
    seen.push(value);
    if (value % 2 === 0) index.delete(value + 1);
    index.delete(value);
  }
  assert.deepEqual(seen, Array.from({ length: 2_500 }, (_, i) => i * 2));
  assert.equal(index.size, 0);
});
