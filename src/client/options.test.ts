import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestBroker, type TestBroker } from '../protocol/native/testing-broker.js';
import { connect, isWeirError, QueueConsumer, type Client, type ConsumerOptions, type ProducerOptions, type QueueConsumerOptions } from './index.js';

let harness: TestBroker;
let client: Client;
before(async () => {
  harness = await startTestBroker();
  client = await connect(harness.url);
});
after(async () => {
  await client.close();
  await harness.stop();
});

/** Throws INVALID_CONFIG whose message names the option, the value given and what is expected. */
function assertRefused(make: () => unknown, message: RegExp): void {
  assert.throws(make, (e) => {
    assert.ok(isWeirError(e, 'INVALID_CONFIG'), String(e));
    assert.match(e.message, message);
    return true;
  });
}

test('producer options that would hang it, fire its timers at once or break idempotence are refused by name, with the range', async () => {
  const cases: [ProducerOptions, RegExp][] = [
    [{ bufferBytesMax: 0 }, /^producer option bufferBytesMax 0 is invalid: expected an integer from 1 to /],
    [{ bufferBytesMax: -1 }, /bufferBytesMax -1 is invalid/],
    [{ bufferBytesMax: Number.NaN }, /bufferBytesMax NaN is invalid/],
    [{ inFlightBatchesPerPartitionMax: 0 }, /inFlightBatchesPerPartitionMax 0 is invalid: expected an integer from 1 to 10$/],
    [{ inFlightBatchesPerPartitionMax: 11 }, /inFlightBatchesPerPartitionMax 11 is invalid: expected an integer from 1 to 10$/],
    [{ lingerMs: -5 }, /lingerMs -5 is invalid: expected an integer from 0 to 2147483647$/],
    [{ metadataMaxAgeMs: 2 ** 31 }, /metadataMaxAgeMs 2147483648 is invalid: expected an integer from 1 to 2147483647$/],
    [{ deliveryTimeoutMs: Number.NaN }, /deliveryTimeoutMs NaN is invalid/],
    [{ retryBackoffMsMin: 500, retryBackoffMsMax: 100 }, /retryBackoffMsMax 100 is invalid: expected an integer from 500 to /],
    [{ acks: 'all' as never }, /^producer option acks "all" is invalid: expected one of leader, none$/],
  ];
  for (const [options, message] of cases) assertRefused(() => client.producer(options), message);
  // Without idempotence more batches may be in flight than the broker remembers.
  const unordered = client.producer({ idempotent: false, inFlightBatchesPerPartitionMax: 50 });
  assert.equal((await unordered.send('options-ok', { value: 'stored' })).offset, 0n);
  await unordered.close();
});

test('consumer options that would hang it or fail its requests later are refused by name', () => {
  const base: ConsumerOptions = { topics: ['options-ok'], from: 'earliest' };
  const cases: [ConsumerOptions, RegExp][] = [
    [{ prefetchMessages: 0 }, /^consumer option prefetchMessages 0 is invalid: expected an integer from 1 to 4294967295$/],
    [{ prefetchMessages: Number.NaN }, /prefetchMessages NaN is invalid/],
    [{ mode: 'pull', prefetchMessages: -1 }, /prefetchMessages -1 is invalid/],
    [{ prefetchBytes: 0 }, /prefetchBytes 0 is invalid/],
    [{ mode: 'poll' as never }, /^consumer option mode "poll" is invalid: expected one of push, pull$/],
    [{ from: 'oldest' as never }, /^consumer option from "oldest" is invalid: expected 'earliest', 'latest', a bigint offset or a valid Date$/],
    [{ from: new Date(Number.NaN) }, /from an invalid Date is invalid/],
    [{ from: 5 as never }, /from number 5 is invalid/],
    [{ mode: 'pull', fetchWaitMs: -1 }, /fetchWaitMs -1 is invalid/],
    [{ groupId: 'g', autoCommitIntervalMs: 0 }, /autoCommitIntervalMs 0 is invalid/],
    [{ messagesPerSecondMax: 0 }, /messagesPerSecondMax 0 is invalid: expected a number above 0/],
    [{ topics: 'options-ok' as never }, /^consumer option topics must be an array of topic names, not "options-ok"$/],
  ];
  for (const [options, message] of cases) assertRefused(() => client.consumer({ ...base, ...options }), message);
});

test('queue consumer and client options are refused by name; a URL that does not parse is INVALID_CONFIG', async () => {
  const base: QueueConsumerOptions = { topic: 'options-ok', subscription: 'workers' };
  const cases: [Partial<QueueConsumerOptions>, RegExp][] = [
    [{ mode: 'poll' as never }, /^queue consumer option mode "poll" is invalid/],
    [{ ratePerSecond: -1 }, /^queue consumer option ratePerSecond -1 is invalid: expected an integer from 0 to 4294967295$/],
    [{ mode: 'pull', receiveWaitMs: -1 }, /receiveWaitMs -1 is invalid/],
    [{ topic: undefined as never }, /^queue consumer option topic undefined is invalid: expected a non-empty string$/],
  ];
  for (const [options, message] of cases) assertRefused(() => client.queueConsumer({ ...base, ...options }), message);
  for (const [options, message] of [
    [{ requestTimeoutMs: Number.NaN }, /^client option requestTimeoutMs NaN is invalid: expected an integer from 1 to 2147483647$/],
    [{ connectTimeoutMs: 0 }, /connectTimeoutMs 0 is invalid/],
    [{ reconnectBackoffMsMin: -100 }, /reconnectBackoffMsMin -100 is invalid/],
  ] as const) {
    await assert.rejects(connect(harness.url, options), (e) => isWeirError(e, 'INVALID_CONFIG') && message.test(e.message));
  }
  for (const url of ['not a url', 'weir://127.0.0.1:99999']) {
    await assert.rejects(connect(url), (e) => isWeirError(e, 'INVALID_CONFIG') && e.message.includes(JSON.stringify(url)));
  }
});

test('a client, producer, consumer or queue consumer option that is not an option (a misspelt one) is refused by name, listing the options', async () => {
  const unknown = (owner: string, key: string, known: string) => (e: unknown): boolean => {
    assert.ok(isWeirError(e, 'INVALID_CONFIG'), String(e));
    assert.equal(e.message, `${owner} option "${key}" is unknown: expected one of ${known}`);
    return true;
  };
  assert.throws(
    () => client.producer({ lingerMS: 5 } as never),
    unknown('producer', 'lingerMS', 'acks, idempotent, lingerMs, batchBytesMax, bufferBytesMax, compression, inFlightBatchesPerPartitionMax, deliveryTimeoutMs, retryBackoffMsMin, retryBackoffMsMax, metadataMaxAgeMs'),
  );
  assert.throws(
    () => client.consumer({ groupID: 'billing', topics: ['options-ok'] } as never),
    unknown('consumer', 'groupID', 'groupId, topics, partitions, from, mode, prefetchMessages, prefetchBytes, fetchWaitMs, fetchBytesMax, autoCommit, autoCommitIntervalMs, sessionTimeoutMs, heartbeatIntervalMs, rebalanceTimeoutMs, messagesPerSecondMax, metadataMaxAgeMs'),
  );
  for (const make of [
    () => client.queueConsumer({ topic: 'options-ok', subscription: 'workers', prefetchMessages: 10 } as never),
    () => new QueueConsumer(client, { topic: 'options-ok', subscription: 'workers', prefetchMessages: 10 } as never), // the exported class, built directly
  ]) {
    assert.throws(make, unknown('queue consumer', 'prefetchMessages', 'topic, subscription, config, mode, prefetch, ratePerSecond, receiveWaitMs'));
  }
  await assert.rejects(
    connect(harness.url, { requestTimeout: 1_000 } as never),
    unknown('client', 'requestTimeout', 'clientId, connectTimeoutMs, requestTimeoutMs, reconnectBackoffMsMin, reconnectBackoffMsMax, frameBytesMax, tls, versionMin, versionMax'),
  );
});

test('topic settings with a key that is not a setting are refused by name, listing the settings, and create or change nothing', async () => {
  const admin = client.admin();
  const unknown = (key: string) => (e: unknown): boolean =>
    isWeirError(e, 'INVALID_CONFIG')
    && e.message === `topic option "${key}" is unknown: expected one of partitions, retentionMs, retentionBytes, flush, messageBytesMax, segmentBytesMax, segmentAgeMsMax, messageTtlMs, timestampAheadMsMax, timestampBehindMsMax`;
  await assert.rejects(admin.createTopic('typo', { partitions: 2, retentionMS: 60_000 } as never), unknown('retentionMS'));
  await assert.rejects(admin.describeTopic('typo'), (e) => isWeirError(e, 'UNKNOWN_TOPIC'), 'no topic was created with the defaults');
  await admin.createTopic('typo', { partitions: 1, retentionMs: 60_000 });
  await assert.rejects(admin.alterTopic('typo', { retentionMs: 1_000, partition: 3 } as never), unknown('partition'));
  const described = await admin.describeTopic('typo');
  assert.equal(described.config.retentionMs, 60_000, 'nothing was changed');
  assert.equal(described.partitions.length, 1);
});

test('seek refuses a position of another type and a partition not assigned, and the consumer goes on', async () => {
  await client.admin().createTopic('seeking', { partitions: 1 });
  const producer = client.producer();
  await producer.send('seeking', Array.from({ length: 10 }, (_, i) => ({ value: `m${i}` })));
  await producer.close();
  for (const mode of ['push', 'pull'] as const) {
    const consumer = client.consumer({ topics: ['seeking'], from: 'earliest', mode });
    try {
      const messages = consumer[Symbol.asyncIterator]();
      assert.equal((await messages.next()).value!.offset, 0n);
      await assert.rejects(consumer.seek('seeking', 0, 5 as never), (e) => {
        assert.ok(isWeirError(e, 'INVALID_REQUEST'), String(e));
        assert.match(e.message, /^seek seeking\/0: the position must be a bigint offset \(such as 5n\) or a valid Date, not number 5$/);
        return true;
      });
      await assert.rejects(consumer.seek('seeking', 0, new Date(Number.NaN)), /not an invalid Date/);
      await assert.rejects(consumer.seek('seeking', 3, 0n), (e) => {
        assert.ok(isWeirError(e, 'INVALID_REQUEST'), String(e));
        assert.match(e.message, /^seek seeking\/3: the partition is not assigned to this consumer \(it has seeking\/0\)$/);
        return true;
      });
      assert.equal((await messages.next()).value!.offset, 1n, `${mode}: the consumer goes on after the refused seeks`);
      await consumer.seek('seeking', 0, 7n);
      assert.equal((await messages.next()).value!.offset, 7n);
      await messages.return(undefined);
    } finally {
      await consumer.close();
    }
  }
});
