import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBytes, formatDuration, formatTime, plural, toLocalInput } from './format.js';

test('sizes, durations and counts read as people write them', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(268_435_456), '256 MiB');
  assert.equal(formatDuration(null), '—');
  assert.equal(formatDuration(250), '250 ms');
  assert.equal(formatDuration(90_000), '1.5 min');
  assert.equal(formatDuration(604_800_000), '7 d');
  assert.equal(plural(1, 'group'), '1 group');
  assert.equal(plural(2, 'group'), '2 groups');
});

test('times are local, sortable, and match what a datetime-local input holds', () => {
  const timestampMs = new Date(2024, 4, 1, 13, 45, 7, 123).getTime();
  assert.equal(formatTime(timestampMs), '2024-05-01 13:45:07.123');
  assert.equal(toLocalInput(timestampMs), '2024-05-01T13:45:07');
  assert.equal(formatTime(-1), '—');
});
