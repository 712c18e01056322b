import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachBounded } from './bounded-concurrency.js';

test('forEachBounded runs every index, never more than the bound at once', async () => {
  let running = 0;
  let runningMax = 0;
  const done: number[] = [];
  await forEachBounded(50, 4, async (index) => {
    running++;
    runningMax = Math.max(runningMax, running);
    await new Promise<void>((resolve) => setImmediate(resolve));
    done.push(index);
    running--;
  });
  assert.equal(runningMax, 4);
  assert.deepEqual([...done].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i));
});

test('forEachBounded starts nothing after a failure, waits for the tasks under way and rejects with the first failure', async () => {
  const started: number[] = [];
  let settled = 0;
  const run = forEachBounded(20, 3, async (index) => {
    started.push(index);
    await new Promise<void>((resolve) => setImmediate(resolve));
    settled++;
    if (index === 1 || index === 2) throw new Error(`task ${index} failed`);
  });
  await assert.rejects(run, /task 1 failed/);
  assert.deepEqual(started, [0, 1, 2, 3]);
  assert.equal(settled, started.length);
});
