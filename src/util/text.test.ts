import assert from 'node:assert/strict';
import { test } from 'node:test';
import { headOfText } from './text.js';

test('headOfText keeps at most charsMax code units and never half of a surrogate pair', () => {
  assert.equal(headOfText('short', 10), 'short');
  assert.equal(headOfText('abcdef', 3), 'abc');
  // '😀' is two code units: a cut through it drops its first half as well.
  assert.equal(headOfText('ab😀cd', 3), 'ab');
  assert.equal(headOfText('ab😀cd', 4), 'ab😀');
  assert.equal(headOfText('😀'.repeat(600), 1000), '😀'.repeat(500));
  assert.equal(headOfText('a' + '😀'.repeat(600), 1000), 'a' + '😀'.repeat(499));
});
