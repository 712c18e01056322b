/**
 * `send(topic, messages)` across partitions when one partition refuses: the error says what
 * became of each message, so that a retry sends only what was not stored.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestBroker, type TestBroker } from '../protocol/native/testing-broker.js';
import { connect, isWeirError, SendError, WeirError, type RecordMetadata } from './index.js';
import { take } from './testing/take.js';

let harness: TestBroker;
before(async () => {
  harness = await startTestBroker();
});
after(async () => {
  await harness.stop();
});

test('a send refused by one partition (QUEUE_FULL) says which messages were stored; retrying the rest stores each message once', async () => {
  const client = await connect(harness.url);
  try {
    const admin = client.admin();
    await admin.createTopic('split', { partitions: 2 });
    await admin.createSubscription('split', 's', { backlogMessagesMax: 2 });
    const producer = client.producer({ lingerMs: 5 });
    // Two batches, one per partition: whichever reaches the broker second passes the bound of 2.
    const messages = [{ value: 'a', partition: 0 }, { value: 'b', partition: 0 }, { value: 'c', partition: 1 }];
    const error = await producer.send('split', messages).then(() => null, (e: unknown) => e);
    assert.ok(error instanceof SendError, String(error));
    assert.equal(error.code, 'QUEUE_FULL');
    assert.equal(error.retriable, true);
    assert.equal(error.results.length, 3);
    const stored = error.results.flatMap((r, i) => (r instanceof WeirError || r === undefined ? [] : [[messages[i]!.value, r] as const]));
    const refused = error.results.flatMap((r, i) => (isWeirError(r, 'QUEUE_FULL') ? [messages[i]!.value] : []));
    assert.deepEqual([...stored.map(([value]) => value), ...refused].sort(), ['a', 'b', 'c']);
    assert.ok(stored.length === 2 ? refused[0] === 'c' : stored[0]![0] === 'c', `one partition's batch is refused whole: stored ${stored.map(([v]) => v)}`);
    assert.match(error.message, new RegExp(`^${refused.length} of 3 messages not stored \\(${stored.length} stored\\): .*backlogMessagesMax 2`));
    for (const [, metadata] of stored) assert.equal((metadata as RecordMetadata).topic, 'split');

    // Drain the subscription, then send only what was refused.
    const consumer = client.queueConsumer({ topic: 'split', subscription: 's' });
    const seen: string[] = [];
    for (const message of await take(consumer, stored.length)) {
      seen.push(message.value!.toString());
      await message.ack();
    }
    await producer.send('split', messages.filter((m) => refused.includes(m.value)));
    for (const message of await take(consumer, refused.length)) {
      seen.push(message.value!.toString());
      await message.ack();
    }
    await consumer.close();
    assert.deepEqual(seen.sort(), ['a', 'b', 'c']);
    await producer.close();
  } finally {
    await client.close();
  }
});

test('a send that stops at a malformed message reports the ones after it as never sent', async () => {
  const client = await connect(harness.url);
  try {
    const producer = client.producer();
    await producer.send('stops', { value: 'first' }); // the topic is described: later messages take the direct path
    const error = await producer.send('stops', [{ value: 'a' }, { value: 'b', delayMs: -1 }, { value: 'c' }]).then(() => null, (e: unknown) => e);
    assert.ok(error instanceof SendError, String(error));
    assert.equal(error.code, 'INVALID_REQUEST');
    assert.equal((error.results[0] as RecordMetadata).topic, 'stops');
    assert.ok(isWeirError(error.results[1], 'INVALID_REQUEST'));
    assert.equal(error.results[2], undefined);
    await producer.close();
  } finally {
    await client.close();
  }
});

test('flush() and close() send at once a message that waited for its topic to be described, however long the linger', async () => {
  const client = await connect(harness.url);
  try {
    await client.admin().createTopic('flush-undescribed', { partitions: 1 });
    const producer = client.producer({ lingerMs: 600_000 });
    // The first message to a topic waits for its description; flush() is called meanwhile.
    const first = producer.send('flush-undescribed', { value: 'first' });
    await producer.flush();
    assert.equal((await first).offset, 0n);
    const second = producer.send('other-undescribed', { value: 'second' });
    await producer.close(); // auto-created on first produce
    assert.equal((await second).offset, 0n);
  } finally {
    await client.close();
  }
});
