/**
 * Queue deliveries within the broker-wide fetch memory, over real sockets: push queue consumers
 * that grant every credit and never read their socket, whose leases expire again and again, keep
 * the deliveries waiting in their sockets within the fetch memory (counted there), and a consumer
 * that reads meanwhile gets every message.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { connect } from '../../client/index.js';
import { SharedByteBudget } from '../../util/byte-budget.js';
import { startTestBroker, type TestBroker } from './testing-broker.js';
import { queueHolder } from './testing-queue-holder.js';

const topic = 'large';
const subscription = 's';
const messageCount = 32;
const valueBytes = 256 * 1024;
/** Connections with one push consumer each, every credit granted, never read. */
const holderCount = 6;
const fetchMemory = new SharedByteBudget({ bytesMax: 1024 * 1024, grantBytesMin: 64 * 1024 });

let harness: TestBroker;

before(async () => {
  harness = await startTestBroker({ listener: { fetchMemory } });
  const client = await connect(harness.url);
  try {
    const admin = client.admin();
    await admin.createTopic(topic, { partitions: 1 });
    // Leases of the holders expire every 100 ms and their messages go out again at once.
    await admin.createSubscription(topic, subscription, { ackTimeoutMs: 100, deliveriesMax: 1_000, backoff: { kind: 'fixed', delayMs: 0 } });
    const producer = client.producer();
    const value = Buffer.alloc(valueBytes, 7);
    for (let i = 0; i < messageCount; i++) await producer.send(topic, { value });
  } finally {
    await client.close();
  }
});

after(async () => {
  await harness.stop();
});

test('push queue consumers that never read hold their deliveries in fetch memory, within its bound; a reader gets every message', { timeout: 30_000 }, async () => {
  const sockets: Socket[] = [];
  const client = await connect(harness.url);
  try {
    for (let h = 0; h < holderCount; h++) sockets.push(await queueHolder(harness.port, topic, subscription));
    // Many ack timeouts: before, each expiry handed the holders the messages again, and their
    // sockets kept every copy (far past the fetch memory, none of it counted).
    let outboundPeak = 0;
    let uncounted = 0;
    const startMs = Date.now();
    let outboundEarly = 0;
    for (const endMs = startMs + 1_500; Date.now() < endMs; await sleep(10)) {
      const outbound = harness.listener.outboundBytes;
      outboundPeak = Math.max(outboundPeak, outbound);
      uncounted = Math.max(uncounted, outbound - fetchMemory.held);
      if (Date.now() < startMs + 500) outboundEarly = outboundPeak;
    }
    assert.ok(outboundPeak > 0, 'the holders were handed messages');
    // What waits in the sockets is held in fetch memory (small answers aside).
    assert.ok(uncounted <= 64 * 1024, `${uncounted} bytes waiting in the sockets were not counted in fetch memory`);
    // The bound, past it one message per connection (its floor), and the first steps, cut before
    // the messages' size was known (at most what is leased at once: each message once). Before,
    // every expiry added another copy of the messages.
    const boundBytes = fetchMemory.bytesMax + holderCount * (valueBytes + 64 * 1024) + messageCount * (valueBytes + 1024);
    assert.ok(outboundPeak <= boundBytes, `${outboundPeak} bytes waited in the sockets, above ${boundBytes}`);
    // After the first ack timeouts, the expired leases' messages went out no more to sockets full of them.
    assert.ok(outboundPeak - outboundEarly <= fetchMemory.bytesMax, `the sockets took ${outboundPeak - outboundEarly} bytes more after the first 500 ms`);

    // A consumer that reads gets every message meanwhile (the holders keep theirs only until their leases expire).
    const seen = new Set<bigint>();
    const consumer = client.queueConsumer({ topic, subscription, prefetch: 100 });
    const done = new AbortController();
    const running = consumer.run({
      eachMessage: (message) => {
        assert.equal(message.value?.length, valueBytes);
        seen.add(message.offset);
        if (seen.size === messageCount) done.abort();
      },
    });
    await Promise.race([once(done.signal, 'abort'), running]);
    await consumer.close();
    assert.equal(seen.size, messageCount, 'the reader received every message');
  } finally {
    for (const socket of sockets) socket.destroy();
    await client.close();
  }
});
