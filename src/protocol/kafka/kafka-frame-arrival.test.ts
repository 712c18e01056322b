/**
 * The Kafka listener's frame arrival limit, over real sockets: a connection that stalls part-way
 * through a large frame while it holds request memory (and the pass) is closed once the limit
 * passes, naming it, and another connection's large produce then goes through; a frame begun
 * while the server has paused reading (every request slot taken by long polls) is not cut,
 * however long the pause; a connection whose reading the server paused for want of request memory
 * is not closed as idle; one that stops reading its responses is closed once the kernel has taken
 * none of them for the idle limit.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { encodeBatch } from '../../format/record-batch.js';
import { RequestMemory } from '../../util/byte-budget.js';
import { decodeResponse, encodeRequest } from './wire/codec.js';
import { kafkaErrors } from './wire/error-codes.js';
import { kafkaMessages as m } from './wire/messages.js';
import { requestsInFlightMax } from './kafka-connection.js';
import { KafkaListener } from './kafka-listener.js';
import { RawClient } from './kafka-raw-client.js';
import { startKafkaStack, type KafkaStack } from './kafka-test-stack.js';
import { waitFor } from '../../util/testing/wait.js';

const frameArrivalMsMax = 500;
// Small, so that one stalled frame holds all of it: 256 KiB, of which a connection may hold 64 KiB without the pass.
const requestMemory = new RequestMemory({ bytesMax: 256 * 1024, connectionBytesFree: 64 * 1024 });
let stack: KafkaStack;
let listener: KafkaListener;
let port: number;

before(async () => {
  stack = await startKafkaStack();
  // No idle limit: only the frame limit can close a stalled connection.
  listener = new KafkaListener(stack.broker, {
    host: '127.0.0.1',
    port: 0,
    connectionIdleMsMax: 0,
    frameArrivalMsMax,
    requestMemory,
    requestBytesMax: 4 << 20,
    logger: (level, message) => stack.logs.push(`${level}: ${message}`),
  });
  port = (await listener.start()).port;
});

after(async () => {
  await listener.close();
  await stack.close();
});

test('a connection stalled part-way through a large frame is closed once the limit passes, naming it, and another connection’s large produce then goes through', { timeout: 20_000 }, async () => {
  await stack.broker.createTopic('large', { partitions: 1 });
  const stalled = await RawClient.open(port);
  const producer = await RawClient.open(port);
  try {
    const stalledClosed = new Promise<number>((resolve) => stalled.socket.once('close', () => resolve(Date.now())));
    // 320 KiB of a 1 MiB frame: past the whole request memory, so this connection holds the pass.
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(1 << 20);
    const sentAt = Date.now();
    stalled.socket.write(Buffer.concat([prefix, Buffer.alloc(320 * 1024, 7)]));
    await waitFor(() => requestMemory.held >= 320 * 1024, 5_000, `the listener read ${requestMemory.held} bytes of the stalled frame`);
    // 200 KiB: more than a connection may hold without the pass, which the stalled one has.
    const records = encodeBatch([{ value: Buffer.alloc(200 * 1024, 1) }]);
    const produced = await producer.call(m.produce, 7, { acks: -1, timeoutMs: 10_000, topics: [{ name: 'large', partitions: [{ index: 0, records }] }] });
    const producedAt = Date.now();
    const partition = produced.responses[0]!.partitions[0]!;
    assert.equal(partition.errorCode, kafkaErrors.NONE);
    assert.equal(partition.baseOffset, 0n);
    assert.ok(stalled.closed, 'the stalled connection was closed');
    const closedAt = await stalledClosed;
    assert.ok(closedAt - sentAt >= frameArrivalMsMax - 50, `closed ${closedAt - sentAt} ms after its frame began`);
    assert.ok(producedAt >= closedAt - 50, 'the produce went through once the stalled connection was gone');
    assert.ok(
      stack.logs.some((line) => /^warn: kafka: closing connection from \S+: a frame begun \d+ ms ago has not all arrived \(frame arrival limit 500 ms\)$/.test(line)),
      stack.logs.join('\n'),
    );
    await waitFor(() => requestMemory.held === 0, 5_000, `its request bytes are let go (${requestMemory.held} held)`);
  } finally {
    stalled.close();
    producer.close();
  }
});

test('time the server does not read a begun frame (every request slot taken by long polls) does not count against it', { timeout: 20_000 }, async () => {
  await stack.broker.createTopic('waiting', { partitions: 1 });
  const client = await RawClient.open(port);
  try {
    const waitMs = frameArrivalMsMax * 3;
    const fetch = (correlationId: number): Buffer =>
      encodeRequest(m.fetch, { apiKey: m.fetch.apiKey, apiVersion: 11, correlationId, clientId: 'waiter' }, {
        maxWaitMs: waitMs,
        minBytes: 1,
        topics: [{ topic: 'waiting', partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 1024 }] }],
      });
    const versionsId = requestsInFlightMax + 1;
    const versions = encodeRequest(m.apiVersions, { apiKey: m.apiVersions.apiKey, apiVersion: 2, correlationId: versionsId, clientId: 'waiter' }, {});
    // The long polls take every slot, so reading pauses until they answer; the next request's first bytes come with them.
    const started = Date.now();
    const polls = Array.from({ length: requestsInFlightMax }, (_, index) => fetch(index + 1));
    client.socket.write(Buffer.concat([...polls, versions.subarray(0, 8)]));
    for (let index = 1; index <= requestsInFlightMax; index++) {
      const frame = await client.next();
      assert.ok(frame, `the listener closed the connection before long poll ${index} answered`);
      assert.equal(decodeResponse(m.fetch, 11, frame).correlationId, index);
    }
    assert.ok(Date.now() - started >= waitMs - 50, `the long polls answered after ${Date.now() - started} ms`);
    client.socket.write(versions.subarray(8));
    const frame = await client.next();
    assert.ok(frame, 'the listener closed the connection whose frame began before the long polls');
    const answer = decodeResponse(m.apiVersions, 2, frame);
    assert.equal(answer.correlationId, versionsId);
    assert.equal(answer.body.errorCode, kafkaErrors.NONE);
    assert.equal(client.closed, false);
  } finally {
    client.close();
  }
});

test('a connection the server stopped reading for want of request memory is not closed as idle, however long it waits', { timeout: 20_000 }, async () => {
  const idleMsMax = 300;
  const memory = new RequestMemory({ bytesMax: 256 * 1024, connectionBytesFree: 64 * 1024 });
  const idleListener = new KafkaListener(stack.broker, { host: '127.0.0.1', port: 0, connectionIdleMsMax: idleMsMax, frameArrivalMsMax: 0, requestMemory: memory, requestBytesMax: 4 << 20 });
  const idlePort = (await idleListener.start()).port;
  await stack.broker.createTopic('paused', { partitions: 1 });
  const holder = await RawClient.open(idlePort);
  const producer = await RawClient.open(idlePort);
  let trickle: NodeJS.Timeout | undefined;
  try {
    // The holder takes all the request memory with 320 KiB of a 1 MiB frame and stays active,
    // one byte every 100 ms, so the idle limit does not close it.
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(1 << 20);
    holder.socket.write(Buffer.concat([prefix, Buffer.alloc(320 * 1024, 7)]));
    await waitFor(() => memory.held >= 320 * 1024, 5_000, `the listener read ${memory.held} bytes of the holder's frame`);
    trickle = setInterval(() => holder.socket.write(Buffer.alloc(1, 7)), 100);
    // The producer's 200 KiB request waits, unread, for memory: for five idle limits.
    const records = encodeBatch([{ value: Buffer.alloc(200 * 1024, 1) }]);
    const produced = producer.call(m.produce, 7, { acks: -1, timeoutMs: 10_000, topics: [{ name: 'paused', partitions: [{ index: 0, records }] }] });
    await new Promise((resolve) => setTimeout(resolve, idleMsMax * 5));
    assert.equal(producer.closed, false, 'the connection waiting for request memory was closed as idle');
    // The holder stops; it is idle now, and closed, and the producer's request goes through.
    clearInterval(trickle);
    const partition = (await produced).responses[0]!.partitions[0]!;
    assert.equal(partition.errorCode, kafkaErrors.NONE);
    assert.ok(holder.closed, 'the holder was closed as idle once it stopped sending');
  } finally {
    clearInterval(trickle);
    holder.close();
    producer.close();
    await idleListener.close();
  }
});

test('a connection that stops reading its responses is closed once the kernel has taken none of them for the idle limit, naming it', { timeout: 20_000 }, async () => {
  const idleMsMax = 300;
  const logs: string[] = [];
  const idleListener = new KafkaListener(stack.broker, { host: '127.0.0.1', port: 0, connectionIdleMsMax: idleMsMax, logger: (level, message) => logs.push(`${level}: ${message}`) });
  const idlePort = (await idleListener.start()).port;
  await stack.broker.createTopic('unread', { partitions: 1 });
  for (let index = 0; index < 16; index++) await stack.broker.produce({ topic: 'unread', partition: 0, acks: 'leader', batches: encodeBatch([{ value: Buffer.alloc(512 * 1024, index) }]) });
  const deaf = await RawClient.open(idlePort);
  try {
    deaf.socket.pause();
    // 48 fetches answered with 512 KiB each: 24 MiB, more than the kernel's buffers take unread.
    const fetches = Array.from({ length: 48 }, (_, index) =>
      encodeRequest(m.fetch, { apiKey: m.fetch.apiKey, apiVersion: 11, correlationId: index + 1, clientId: 'deaf' }, {
        maxWaitMs: 0,
        minBytes: 1,
        maxBytes: 600 * 1024,
        topics: [{ topic: 'unread', partitions: [{ partition: 0, fetchOffset: BigInt(index % 16), partitionMaxBytes: 600 * 1024 }] }],
      }),
    );
    const sentAt = Date.now();
    deaf.socket.write(Buffer.concat(fetches));
    const named = (line: string): boolean =>
      /^warn: kafka: closing connection from \S+: the client took none of its \d+ bytes of queued output for \d+ ms \(connection idle limit 300 ms\): it stopped reading$/.test(line);
    // Seen in the log: the paused socket would not notice the close before reading.
    await waitFor(() => logs.some(named), 5_000, `not closed yet:\n${logs.join('\n')}`);
    assert.ok(Date.now() - sentAt >= idleMsMax - 50, `closed ${Date.now() - sentAt} ms after its requests`);
    deaf.socket.resume();
    assert.ok(await deaf.closedWithin(5_000), 'the socket is closed');
  } finally {
    deaf.close();
    await idleListener.close();
  }
});

test('a frame arrival limit that is not an integer from 0 to the longest timer is refused', () => {
  for (const frameArrivalMsMax of [-1, 1.5, 2 ** 31]) {
    assert.throws(() => new KafkaListener(stack.broker, { host: '127.0.0.1', port: 0, frameArrivalMsMax }), /^WeirError: frameArrivalMsMax .* is invalid/);
  }
});
