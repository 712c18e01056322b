/**
 * The native listener closes connections for what their clients do not do, over real sockets: one
 * idle past connectionIdleMsMax, one that never says hello past helloTimeoutMs, one that stalls
 * part-way through a frame past frameArrivalMsMax (whose request memory then goes to another
 * connection's large produce). Connections with something in progress (a push subscription, a
 * long poll, a queue consumer, a group membership) stay open however long they are quiet. One that
 * stops reading its answers is closed once the kernel has taken none of them for the idle limit;
 * one that reads them slowly stays.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { encodeBatch } from '../../format/record-batch.js';
import { RequestMemory } from '../../util/byte-budget.js';
import { Connection } from '../../client/connection.js';
import { startTestBroker, type TestBroker } from './testing-broker.js';
import { FrameReader, encodeRequest, parseFrame, readErrorPart } from './wire/frame.js';
import { apis } from './wire/messages.js';
import { openSocket } from '../../util/testing/socket.js';
import { waitFor } from '../../util/testing/wait.js';

const idleMsMax = 600;
const helloTimeoutMs = 300;

function open(harness: TestBroker, clientId: string): Promise<Connection> {
  return Connection.open({ host: '127.0.0.1', port: harness.port, clientId, connectTimeoutMs: 2000, requestTimeoutMs: 10_000 });
}

const hello = (clientId: string): Buffer => Buffer.concat(encodeRequest(1, apis.hello.key, apis.hello.request, { versionMin: 1, versionMax: 2, clientId }));

/** When the socket closes (Date.now()), or null if it is still open after `ms`. */
function closedAt(socket: Socket, ms: number): Promise<number | null> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve(Date.now());
    const timer = setTimeout(() => resolve(null), ms);
    socket.on('error', () => {});
    socket.resume(); // read what the server sends, so that 'close' follows its end
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now());
    });
  });
}

/** When the client connection closes (Date.now()), or null if it is still open after `ms`. */
function connectionClosedAt(connection: Connection, ms: number): Promise<number | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), ms);
    connection.onClose(() => {
      clearTimeout(timer);
      resolve(Date.now());
    });
  });
}

describe('idle and hello limits', () => {
  let harness: TestBroker;
  before(async () => {
    harness = await startTestBroker({ listener: { connectionIdleMsMax: idleMsMax, helloTimeoutMs } });
  });
  after(async () => {
    await harness.stop();
  });

  test('a connection that said hello and then nothing is ended once the idle limit passes, not before', async () => {
    const socket = await openSocket(harness.port);
    try {
      const helloSentAt = Date.now();
      socket.write(hello('idler'));
      const closed = await closedAt(socket, 10_000);
      assert.ok(closed !== null, 'the broker closed the idle connection');
      assert.ok(closed - helloSentAt >= idleMsMax - 50, `closed ${closed - helloSentAt} ms after its hello`);
      assert.ok(harness.logs.some((line) => /^debug: native connection 127\.0\.0\.1:\d+ \(idler\) closed: idle for \d+ ms \(connection idle limit 600 ms\)$/.test(line)), harness.logs.join('\n'));
    } finally {
      socket.destroy();
    }
  });

  test('a connection that never says hello is closed once the hello limit passes', async () => {
    const socket = await openSocket(harness.port);
    try {
      const connectedAt = Date.now();
      const closed = await closedAt(socket, 5_000);
      assert.ok(closed !== null, 'the broker closed the silent connection');
      assert.ok(closed - connectedAt >= helloTimeoutMs - 50 && closed - connectedAt < idleMsMax, `closed ${closed - connectedAt} ms after connecting`);
      assert.ok(harness.logs.some((line) => /^warn: native connection .* closed: no hello within 300 ms \(hello limit\)$/.test(line)), harness.logs.join('\n'));
    } finally {
      socket.destroy();
    }
  });

  test('a connection that keeps sending requests is not closed', async () => {
    const connection = await open(harness, 'chatty');
    try {
      const started = Date.now();
      while (Date.now() - started < idleMsMax * 3) {
        await connection.request('listTopics', { includeInternal: false });
        await new Promise((resolve) => setTimeout(resolve, idleMsMax / 3));
      }
      assert.equal(connection.closed, false);
    } finally {
      connection.close();
    }
  });

  test('a push subscriber, a long poll, a queue consumer and a group member quiet past the limit stay open; an idle one beside them is closed', async () => {
    const admin = await open(harness, 'admin');
    await admin.request('createTopic', { name: 'quiet', config: {} as never });
    admin.close();
    const subscriber = await open(harness, 'subscriber');
    const poller = await open(harness, 'poller');
    const queued = await open(harness, 'queued');
    const member = await open(harness, 'member');
    const idle = await open(harness, 'idle');
    try {
      await subscriber.request('subscribe', {
        subscriptionId: 1,
        source: { kind: 'partitions', partitions: [{ topic: 'quiet', partition: 0, offset: 0n }] },
        creditMessages: 10,
        creditBytes: 1 << 20,
        deliveryBytesMax: 1 << 20,
      });
      await queued.request('queueSubscribe', { consumerId: 1, topic: 'quiet', subscription: 'q', configJson: null, push: true, credits: 10, ratePerSecond: 0 });
      await member.request('joinGroup', { groupId: 'quiet-group', memberId: '', groupInstanceId: null, sessionTimeoutMs: 30_000, rebalanceTimeoutMs: 30_000, topics: ['quiet'] }, 30_000);
      const waitMs = idleMsMax * 3;
      const polled = poller.request('fetch', { waitMs, bytesMin: 1, bytesMaxTotal: 1 << 20, partitions: [{ topic: 'quiet', partition: 0, offset: 0n, bytesMax: 1 << 20 }] }, waitMs);
      const quiet = [subscriber, queued, member, poller];
      const closings = quiet.map((connection) => connectionClosedAt(connection, waitMs + idleMsMax / 2));
      assert.ok((await connectionClosedAt(idle, 10_000)) !== null, 'the idle connection beside them was closed');
      const [answer] = await polled;
      assert.equal(answer!.errorCode, 0, 'the long poll answered after its whole wait');
      assert.deepEqual(await Promise.all(closings), quiet.map(() => null), 'none of the busy connections was closed');
      // And each still works.
      for (const connection of quiet) await connection.request('listTopics', { includeInternal: false });
    } finally {
      for (const connection of [subscriber, poller, queued, member, idle]) connection.close();
    }
  });
});

describe('output the client does not read', () => {
  const fetches = 48;
  let harness: TestBroker;
  before(async () => {
    harness = await startTestBroker({ listener: { connectionIdleMsMax: idleMsMax } });
    const setup = await open(harness, 'setup');
    await setup.request('createTopic', { name: 'unread', config: {} as never });
    // 8 MiB in 512 KiB records: each fetch below is answered with one of them.
    for (let index = 0; index < 16; index++) {
      await setup.request('produce', { topic: 'unread', partition: 0, acks: 'leader', batches: encodeBatch([{ value: Buffer.alloc(512 * 1024, index) }]) });
    }
    setup.close();
  });
  after(async () => {
    await harness.stop();
  });

  /** Says hello and asks for `fetches` answers of 512 KiB (24 MiB, more than the kernel's buffers take unread), reading none of them yet. */
  async function askForMuch(clientId: string): Promise<Socket> {
    const socket = await openSocket(harness.port);
    socket.pause();
    const requests = [hello(clientId)];
    for (let index = 0; index < fetches; index++) {
      const offset = BigInt(index % 16);
      requests.push(...encodeRequest(index + 2, apis.fetch.key, apis.fetch.request, { waitMs: 0, bytesMin: 1, bytesMaxTotal: 600 * 1024, partitions: [{ topic: 'unread', partition: 0, offset, bytesMax: 600 * 1024 }] }));
    }
    socket.write(Buffer.concat(requests));
    return socket;
  }

  test('a connection that stops reading its answers is closed once the kernel has taken none of them for the idle limit, naming it', async () => {
    const socket = await askForMuch('deaf');
    try {
      const sentAt = Date.now();
      const named = (line: string) => /^warn: native connection .* \(deaf\) closed: the client took none of its \d+ bytes of queued output for \d+ ms \(connection idle limit 600 ms\): it stopped reading$/.test(line);
      // Its closing is seen in the log: the socket, paused, would not notice it before reading.
      await waitFor(() => harness.logs.some(named), 10_000, 'the close logged');
      const closedAfterMs = Date.now() - sentAt;
      assert.ok(closedAfterMs >= idleMsMax - 50, `closed ${closedAfterMs} ms after its requests`);
      assert.ok((await closedAt(socket, 5_000)) !== null, 'the socket is closed');
    } finally {
      socket.destroy();
    }
  });

  test('a connection that reads its answers slowly is not closed', async () => {
    const socket = await askForMuch('slow');
    try {
      const answers: number[] = [];
      const reader = new FrameReader();
      let sipBytes = 0;
      let sipped: (() => void) | null = null;
      socket.on('data', (chunk: Buffer) => {
        reader.push(chunk, (bytes) => {
          answers.push(parseFrame(bytes).id);
        });
        sipBytes += chunk.length;
        if (sipped !== null && sipBytes >= 1 << 20) {
          socket.pause();
          sipped();
        }
      });
      const closed = new Promise<never>((_, reject) => socket.once('close', () => reject(new Error(`closed after answers ${answers.join(', ')}`))));
      closed.catch(() => {});
      // A sip of 1 MiB every half idle limit for three idle limits: less than the one socket write
      // that the broker's queued answers go out in, so only the kernel's taking part of it shows.
      const started = Date.now();
      while (Date.now() - started < idleMsMax * 3) {
        await new Promise((resolve) => setTimeout(resolve, idleMsMax / 2));
        sipBytes = 0;
        const sip = new Promise<void>((resolve) => (sipped = resolve));
        socket.resume();
        await Promise.race([sip, closed]);
        sipped = null;
      }
      assert.ok(answers.length < fetches + 1, `still answers to read (read ${answers.length})`);
      socket.resume();
      const deadline = Date.now() + 10_000;
      while (answers.length < fetches + 1) {
        assert.ok(Date.now() < deadline, `read ${answers.length} answers`);
        await Promise.race([new Promise((resolve) => setTimeout(resolve, 20)), closed]);
      }
      assert.equal(socket.destroyed, false);
      assert.ok(!harness.logs.some((line) => line.includes('(slow) closed')), harness.logs.join('\n'));
    } finally {
      socket.destroy();
    }
  });
});

describe('frame arrival limit', () => {
  const frameArrivalMsMax = 500;
  // Small, so that one stalled frame holds all of it: 256 KiB, of which a connection may hold 64 KiB without the pass.
  const requestMemory = new RequestMemory({ bytesMax: 256 * 1024, connectionBytesFree: 64 * 1024 });
  let harness: TestBroker;
  before(async () => {
    // No idle limit: only the frame limit can close the stalled connection. One request at a time
    // per connection, so that a long poll pauses reading.
    harness = await startTestBroker({ listener: { connectionIdleMsMax: 0, frameArrivalMsMax, requestMemory, frameBytesMax: 4 << 20, inFlightRequestsMax: 1 } });
  });
  after(async () => {
    await harness.stop();
  });

  test('a connection stalled part-way through a frame is closed once the limit passes, naming it, and another connection’s large produce then goes through', async () => {
    const setup = await open(harness, 'setup');
    await setup.request('createTopic', { name: 'large', config: {} as never });
    setup.close();
    const stalled = await openSocket(harness.port);
    const producer = await open(harness, 'producer');
    try {
      // Hello, then 320 KiB of a 1 MiB frame: past the whole request memory, so this connection holds the pass.
      const prefix = Buffer.alloc(4);
      prefix.writeUInt32BE(1 << 20);
      const sentAt = Date.now();
      stalled.write(Buffer.concat([hello('stalled'), prefix, Buffer.alloc(320 * 1024, 7)]));
      const stalledClosed = closedAt(stalled, 10_000);
      await waitFor(() => requestMemory.held >= 320 * 1024, 5_000, 'the broker read the stalled frame');
      // 200 KiB: more than a connection may hold without the pass, which the stalled one has.
      const produced = await producer.request('produce', { topic: 'large', partition: 0, acks: 'leader', batches: encodeBatch([{ value: Buffer.alloc(200 * 1024, 1) }]) });
      const producedAt = Date.now();
      assert.equal(produced.baseOffset, 0n);
      const closed = await stalledClosed;
      assert.ok(closed !== null, 'the stalled connection was closed');
      assert.ok(closed - sentAt >= frameArrivalMsMax - 50, `closed ${closed - sentAt} ms after its frame began`);
      assert.ok(producedAt >= closed - 50, 'the produce went through once the stalled connection was gone');
      assert.ok(
        harness.logs.some((line) => /^warn: native connection .* \(stalled\) closed: a frame begun \d+ ms ago has not all arrived \(frame arrival limit 500 ms\)$/.test(line)),
        harness.logs.join('\n'),
      );
      assert.equal(requestMemory.held, 0, 'its request bytes are let go');
    } finally {
      stalled.destroy();
      producer.close();
    }
  });

  test('time the server does not read a begun frame (a long poll running at the in-flight bound) does not count against it', async () => {
    const setup = await open(harness, 'setup');
    await setup.request('createTopic', { name: 'waiting', config: {} as never });
    setup.close();
    const socket = await openSocket(harness.port);
    try {
      const answers: number[] = [];
      let answered: (() => void) | null = null;
      const reader = new FrameReader();
      socket.on('data', (chunk: Buffer) =>
        reader.push(chunk, (bytes) => {
          const frame = parseFrame(bytes);
          assert.equal(readErrorPart(frame.reader), undefined);
          answers.push(frame.id);
          answered?.();
        }),
      );
      const closed = new Promise<never>((_, reject) => socket.once('close', () => reject(new Error(`the broker closed the connection after answers ${answers.join(', ')}`))));
      closed.catch(() => {});
      const answer = (count: number) => Promise.race([new Promise<void>((resolve) => (answered = () => answers.length >= count && resolve())), closed]);
      const waitMs = frameArrivalMsMax * 3;
      const fetch = encodeRequest(2, apis.fetch.key, apis.fetch.request, { waitMs, bytesMin: 1, bytesMaxTotal: 1 << 20, partitions: [{ topic: 'waiting', partition: 0, offset: 0n, bytesMax: 1 << 20 }] });
      const list = Buffer.concat(encodeRequest(3, apis.listTopics.key, apis.listTopics.request, { includeInternal: false }));
      // The next request's first bytes come with the long poll; reading pauses after the poll until it answers.
      const fetchAnswered = answer(2);
      socket.write(Buffer.concat([hello('waiter'), ...fetch, list.subarray(0, 8)]));
      await fetchAnswered;
      assert.deepEqual(answers, [1, 2]);
      const listAnswered = answer(3);
      socket.write(list.subarray(8));
      await listAnswered;
      assert.deepEqual(answers, [1, 2, 3], 'the frame begun before the long poll completed after it, on the same connection');
      assert.equal(socket.destroyed, false);
    } finally {
      socket.destroy();
    }
  });
});
