import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { readIntoReusedBuffer } from './reused-read-buffer.js';

test('an accepted socket reads into the one reused buffer, in order, and stops and resumes', async () => {
  const buffer = Buffer.alloc(4096);
  const received: Buffer[] = [];
  let stops = 0;
  const accepted = new Promise<{ socket: Socket; reused: boolean }>((resolve) => {
    const server = createServer((socket) => {
      server.close();
      const reused = readIntoReusedBuffer(socket, buffer, (bytes) => {
        assert.equal(bytes.buffer, buffer.buffer, 'the bytes are a view of the reused buffer');
        received.push(Buffer.from(bytes));
        // Stops after the first read; resumed below.
        if (received.length > 1) return true;
        stops += 1;
        return false;
      });
      resolve({ socket, reused });
    });
    server.listen(0, '127.0.0.1', () => {
      const client = connect((server.address() as { port: number }).port, '127.0.0.1');
      const sent = Buffer.alloc(1_000_000);
      for (let i = 0; i < sent.length; i += 1) sent[i] = (i * 7) % 251;
      client.end(sent);
    });
  });
  const { socket, reused } = await accepted;
  assert.ok(reused, 'this Node lets an accepted socket read into a reused buffer');
  const ended = once(socket, 'end');
  await sleep(100);
  assert.equal(stops, 1);
  assert.equal(received.length, 1, 'nothing is read while stopped');
  socket.resume();
  await ended;
  socket.destroy();
  const all = Buffer.concat(received);
  assert.equal(all.length, 1_000_000);
  for (let i = 0; i < all.length; i += 1) if (all[i] !== (i * 7) % 251) assert.fail(`byte ${i} differs`);
  assert.ok(received.length >= 1_000_000 / buffer.length, 'no read is larger than the buffer');
});
