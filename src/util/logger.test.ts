import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from './logger.js';

test('a message carrying line breaks or terminal escapes (a client id, say) stays one line, its control characters written as \\xNN', () => {
  const lines: string[] = [];
  const log = createLogger('info', (line) => lines.push(line));
  log('info', 'connection (evil\n2026-11-24T00:00:00.000Z error  forged\u001b[31m\u009b) closed');
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^\S+ info  connection \(evil\\x0a2026-11-24T00:00:00\.000Z error  forged\\x1b\[31m\\x9b\) closed\n$/);
  assert.equal(lines[0]!.split('\n').length, 2, 'one line break: the one ending the line');
});
