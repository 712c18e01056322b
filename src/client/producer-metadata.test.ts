/**
 * The producer against a topic that changes under it: a lowered messageBytesMax (batches are
 * split and resent, in order, each message stored once) and partitions added after the producer
 * last described the topic. A real broker behind a real socket.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { decodeBatches } from '../format/record-batch.js';
import { startTestBroker, type TestBroker } from '../protocol/native/testing-broker.js';
import { connect, isWeirError, type Client, type WeirError } from './index.js';
import { framesOf, startTcpProxy } from './testing/tcp-proxy.js';

let harness: TestBroker;
before(async () => {
  harness = await startTestBroker();
});
after(async () => {
  await harness.stop();
});

async function withClient(run: (client: Client) => Promise<void>): Promise<void> {
  const client = await connect(harness.url);
  try {
    await run(client);
  } finally {
    await client.close();
  }
}

/** The values stored in a partition, read from the broker itself. */
async function storedValues(topic: string, partition: number): Promise<string[]> {
  const [result] = await harness.broker.fetch({ partitions: [{ topic, partition, offset: 0n, bytesMax: 64 * 1024 * 1024 }], waitMs: 0 });
  return decodeBatches(result!.records, { decompressedBytesMax: 64 * 1024 * 1024 }).map((r) => r.value!.toString());
}

function kilobyteMessages(prefix: string, count: number): { value: string }[] {
  return Array.from({ length: count }, (_, i) => ({ value: `${prefix}-${i}-`.padEnd(1000, 'x') }));
}

test('a lowered messageBytesMax: a too-large batch is split and resent in order, each message stored once', async () => {
  await withClient(async (client) => {
    await client.admin().createTopic('shrunk', { partitions: 1 });
    // Resent at once: usually before the topic is described again, so the resend waits for that.
    const producer = client.producer({ retryBackoffMsMin: 0, retryBackoffMsMax: 0 });
    await producer.send('shrunk', { value: 'warm-up' }); // the producer knows the topic's old limit
    await client.admin().alterTopic('shrunk', { messageBytesMax: 16_384 });
    const sent = await producer.send('shrunk', kilobyteMessages('a', 100));
    assert.deepEqual(sent.map((m) => m.offset), Array.from({ length: 100 }, (_, i) => BigInt(i + 1)));
    // Later sends are built to the new limit.
    const later = await producer.send('shrunk', kilobyteMessages('b', 100));
    assert.deepEqual(later.map((m) => m.offset), Array.from({ length: 100 }, (_, i) => BigInt(i + 101)));
    const expected = ['warm-up', ...kilobyteMessages('a', 100).map((m) => m.value), ...kilobyteMessages('b', 100).map((m) => m.value)];
    assert.deepEqual(await storedValues('shrunk', 0), expected, 'every message once, in send order');
    await producer.close();
  });
});

test('a lowered messageBytesMax with several batches in flight: idempotent sequences stay right', async () => {
  await withClient(async (client) => {
    await client.admin().createTopic('shrunk-pipelined', { partitions: 1 });
    // Batches of ~40 KB, all in flight at once, every one of them now too large.
    const producer = client.producer({ batchBytesMax: 40_000, retryBackoffMsMin: 5, retryBackoffMsMax: 20 });
    await producer.send('shrunk-pipelined', { value: 'warm-up' });
    await client.admin().alterTopic('shrunk-pipelined', { messageBytesMax: 16_384 });
    const messages = kilobyteMessages('p', 300);
    const sent = await producer.send('shrunk-pipelined', messages);
    assert.deepEqual(sent.map((m) => m.offset), Array.from({ length: 300 }, (_, i) => BigInt(i + 1)));
    assert.deepEqual(await storedValues('shrunk-pipelined', 0), ['warm-up', ...messages.map((m) => m.value)]);
    await producer.close();
  });
});

test('a lowered messageBytesMax: a compressed batch is split too', async () => {
  await withClient(async (client) => {
    await client.admin().createTopic('shrunk-gzip', { partitions: 1 });
    const producer = client.producer({ compression: 'gzip', retryBackoffMsMin: 5, retryBackoffMsMax: 20 });
    await producer.send('shrunk-gzip', { value: 'warm-up' });
    await client.admin().alterTopic('shrunk-gzip', { messageBytesMax: 16_384 });
    // Random text: gzip takes off about a quarter, so the batch stays far over the limit.
    const values = Array.from({ length: 100 }, () => randomBytes(750).toString('base64'));
    const sent = await producer.send('shrunk-gzip', values.map((value) => ({ value })));
    assert.deepEqual(sent.map((m) => m.offset), Array.from({ length: 100 }, (_, i) => BigInt(i + 1)));
    assert.deepEqual(await storedValues('shrunk-gzip', 0), ['warm-up', ...values]);
    await producer.close();
  });
});

test('a lowered messageBytesMax: only a message that alone exceeds it fails, and the producer goes on', async () => {
  await withClient(async (client) => {
    await client.admin().createTopic('shrunk-single', { partitions: 1 });
    const producer = client.producer({ retryBackoffMsMin: 5, retryBackoffMsMax: 20 });
    await producer.send('shrunk-single', { value: 'warm-up' });
    await client.admin().alterTopic('shrunk-single', { messageBytesMax: 16_384 });
    const outcomes = await Promise.allSettled([
      producer.send('shrunk-single', { value: 'before' }),
      producer.send('shrunk-single', { value: 'x'.repeat(20_000) }),
      producer.send('shrunk-single', { value: 'after' }),
    ]);
    assert.equal(outcomes[0]!.status, 'fulfilled');
    assert.equal(outcomes[1]!.status, 'rejected');
    assert.ok(isWeirError((outcomes[1] as PromiseRejectedResult).reason, 'MESSAGE_TOO_LARGE'));
    assert.equal(outcomes[2]!.status, 'fulfilled');
    assert.deepEqual((await producer.send('shrunk-single', kilobyteMessages('c', 50))).length, 50);
    assert.deepEqual(await storedValues('shrunk-single', 0), ['warm-up', 'before', 'after', ...kilobyteMessages('c', 50).map((m) => m.value)]);
    await producer.close();
  });
});

test('a partition added after the producer described the topic is used when a message names it', async () => {
  await withClient(async (client) => {
    await client.admin().createTopic('grown', { partitions: 2 });
    const producer = client.producer();
    await producer.send('grown', { partition: 0, value: 'first' });
    await client.admin().alterTopic('grown', { partitions: 4 });
    const [two, three, tooFar] = await Promise.allSettled([
      producer.send('grown', { partition: 2, value: 'to-2' }),
      producer.send('grown', { partition: 3, value: 'to-3' }),
      producer.send('grown', { partition: 4, value: 'to-4' }),
    ]);
    assert.equal(two.status === 'fulfilled' && two.value.partition, 2);
    assert.equal(three.status === 'fulfilled' && three.value.partition, 3);
    assert.equal(tooFar!.status, 'rejected', 'a partition that still does not exist is refused');
    assert.ok(isWeirError((tooFar as PromiseRejectedResult).reason, 'UNKNOWN_PARTITION'));
    assert.deepEqual(await storedValues('grown', 2), ['to-2']);
    assert.deepEqual(await storedValues('grown', 3), ['to-3']);
    // Keyed messages now spread over all four partitions.
    const keyed = await producer.send('grown', Array.from({ length: 40 }, (_, i) => ({ key: `k-${i}`, value: 'v' })));
    assert.equal(new Set(keyed.map((m) => m.partition)).size, 4);
    await producer.close();
  });
});

test('sendNoWait after close takes nothing: it returns true and the callback gets CLOSED', async () => {
  await withClient(async (client) => {
    const producer = client.producer();
    await producer.close();
    let failure: WeirError | null = null;
    assert.equal(producer.sendNoWait('closed-topic', { value: 'late' }, (error) => (failure = error)), true);
    assert.ok(isWeirError(failure, 'CLOSED'));
    await assert.rejects(producer.send('closed-topic', { value: 'late' }), (e) => isWeirError(e, 'CLOSED'));
  });
});

test('once every message waiting for a topic has expired, the producer stops describing it; a new message describes it again', async () => {
  // A proxy that answers the hello and drops every other answer: each describe times out (retriable).
  let dropped = 0;
  const proxy = await startTcpProxy(harness.port, (client) =>
    framesOf((frame) => {
      if (frame.readUInt32BE(5) === 1) client.write(frame); // the hello's answer (correlation id 1)
      else dropped++;
    }),
  );
  const client = await connect(`weir://127.0.0.1:${proxy.port}`, { requestTimeoutMs: 100 });
  try {
    const producer = client.producer({ deliveryTimeoutMs: 600, retryBackoffMsMin: 20, retryBackoffMsMax: 50 });
    await assert.rejects(producer.send('described-in-vain', { value: 'x' }), (e: WeirError) => {
      assert.ok(isWeirError(e, 'TIMEOUT'), String(e));
      assert.match(e.message, /could not be described/);
      return true;
    });
    const describesAtExpiry = dropped;
    assert.ok(describesAtExpiry >= 2, `${describesAtExpiry} describes before the message expired`);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    // One describe may have been under way when the message expired.
    assert.ok(dropped <= describesAtExpiry + 1, `${dropped - describesAtExpiry} describes after the only message expired`);
    const before = dropped;
    await assert.rejects(producer.send('described-in-vain', { value: 'y' }), (e: WeirError) => isWeirError(e, 'TIMEOUT'));
    assert.ok(dropped > before, 'a new message describes the topic again');
    await producer.close().catch(() => {});
  } finally {
    await client.close();
    proxy.close();
  }
});
