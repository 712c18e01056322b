import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger, cutMiddle, logMessageCharsMax } from './logger.js';

test('a message carrying line breaks or terminal escapes (a client id, say) stays one line, its control characters written as \\xNN', () => {
  const lines: string[] = [];
  const log = createLogger('info', (line) => lines.push(line));
  log('info', 'connection (evil\n2026-11-24T00:00:00.000Z error  forged\u001b[31m\u009b) closed');
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^\S+ info  connection \(evil\\x0a2026-11-24T00:00:00\.000Z error  forged\\x1b\[31m\\x9b\) closed\n$/);
  assert.equal(lines[0]!.split('\n').length, 2, 'one line break: the one ending the line');
});

test('a message longer than logMessageCharsMax keeps its first and last halves around a marker naming the cut, and splits no surrogate pair', () => {
  const lines: string[] = [];
  const log = createLogger('info', (line) => lines.push(line));
  const head = 'connection ('.padEnd(logMessageCharsMax / 2, 'a');
  const tail = ') closed: a reason'.padStart(logMessageCharsMax / 2, 'z');
  log('info', `${head}${'m'.repeat(50_000)}${tail}`);
  assert.equal(lines[0]!.replace(/^\S+ info  /, ''), `${head}…[cut 50000 chars]…${tail}\n`);

  assert.equal(cutMiddle('x'.repeat(logMessageCharsMax)), 'x'.repeat(logMessageCharsMax), 'a message of the bound stays whole');
  // A pair astride either edge goes with the cut part.
  const astride = `${'a'.repeat(logMessageCharsMax / 2 - 1)}😀${'m'.repeat(100)}😀${'z'.repeat(logMessageCharsMax / 2 - 1)}`;
  const cut = cutMiddle(astride);
  assert.equal(cut, `${'a'.repeat(logMessageCharsMax / 2 - 1)}…[cut 104 chars]…${'z'.repeat(logMessageCharsMax / 2 - 1)}`);
  assert.equal(Buffer.from(cut).toString(), cut, 'no lone surrogate');
});
