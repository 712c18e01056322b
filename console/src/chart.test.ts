import assert from 'node:assert/strict';
import { test } from 'node:test';
import { niceStep } from './chart.js';

test('grid steps are 1, 2 or 5 times a power of ten, about four lines high', () => {
  assert.equal(niceStep(180, 1000), 50);
  assert.equal(niceStep(4, 1000), 1);
  assert.equal(niceStep(0.9, 1000), 0.5);
  assert.equal(niceStep(2_100_000, 1000), 1_000_000);
});

test('byte axes step in round KiB and MiB', () => {
  assert.equal(niceStep(300 * 1024, 1024), 100 * 1024);
  assert.equal(niceStep(15 * 1024 * 1024, 1024), 5 * 1024 * 1024);
  assert.equal(niceStep(700, 1024), 200);
});
