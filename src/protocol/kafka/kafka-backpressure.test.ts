/**
 * A partition whose writer falls behind its producers: the disk's writes are held back until more
 * than the partition's write queue bound (256 MiB) waits, so that the broker refuses further
 * appends (LIMIT_EXCEEDED). Kafka producers must read that as a passing overload they retry, not as
 * a fatal error.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import kafkajs from 'kafkajs';
import { messageBytesMaxLimit } from '../../broker/topic-config.js';
import { decodeBatches, encodeBatch } from '../../format/record-batch.js';
import { nodeFileSystem, type FileSystem } from '../../storage/file-system.js';
import { decodeResponse } from './wire/codec.js';
import { kafkaErrors } from './wire/error-codes.js';
import { kafkaMessages as m } from './wire/messages.js';
import { RawClient } from './kafka-raw-client.js';
import { startKafkaStack } from './kafka-test-stack.js';

const { Kafka, logLevel } = kafkajs;

/** The machine's file system, with every write held back between `hold()` and `release()`. */
function heldWrites(): { fileSystem: FileSystem; hold(): void; release(): void } {
  let gate: Promise<void> | null = null;
  let open = (): void => {};
  return {
    fileSystem: {
      ...nodeFileSystem,
      async write(handle, buffers, position) {
        await gate;
        return nodeFileSystem.write(handle, buffers, position);
      },
    },
    hold() {
      gate = new Promise((resolve) => (open = resolve));
    },
    release() {
      gate = null;
      open();
    },
  };
}

test('a partition with more than 256 MiB waiting to be written answers NOT_ENOUGH_REPLICAS, and a kafkajs producer retries until it is stored', { timeout: 60_000 }, async () => {
  const disk = heldWrites();
  const stack = await startKafkaStack({ fileSystem: disk.fileSystem });
  const clients: RawClient[] = [];
  const retried: string[] = [];
  let released = false;
  const producer = new Kafka({
    clientId: 'backpressure',
    brokers: [stack.bootstrap],
    logLevel: logLevel.ERROR,
    logCreator: () => (entry) => {
      const logged = `${entry.log.message} ${String(entry.log['error'] ?? '')}`;
      retried.push(logged);
      // The first refusal kafkajs logs before its retry lets the disk catch up.
      if (!released && /fewer in-sync replicas/.test(logged)) {
        released = true;
        disk.release();
      }
    },
    retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 },
  }).producer({ allowAutoTopicCreation: false });
  try {
    await stack.broker.createTopic('slow', { partitions: 1, messageBytesMax: messageBytesMaxLimit });
    await producer.connect();
    disk.hold();
    // Six 63 MiB batches on connections of their own (one connection runs its produces one at a
    // time): 378 MiB, so at least one finds the queue past its bound. While the disk is held no
    // produce can succeed, so the first answer is a refusal.
    const batch = encodeBatch([{ value: Buffer.alloc(63 * 1024 * 1024, 1) }]);
    for (let i = 0; i < 6; i++) {
      const client = await RawClient.open(stack.port);
      clients.push(client);
      client.send(m.produce, 7, { acks: -1, timeoutMs: 30_000, topics: [{ name: 'slow', partitions: [{ index: 0, records: batch }] }] });
    }
    const first = await Promise.race(clients.map(async (client) => decodeResponse(m.produce, 7, (await client.next(30_000))!)));
    const refused = first.body.responses[0]!.partitions[0]!;
    assert.deepEqual([refused.errorCode, refused.baseOffset], [kafkaErrors.NOT_ENOUGH_REPLICAS, -1n]);

    // A larger batch than the refused one is refused too until the disk catches up: kafkajs retries.
    const [sent] = await producer.send({ topic: 'slow', messages: [{ partition: 0, value: Buffer.alloc(63 * 1024 * 1024 + 1024, 2) }] });
    assert.equal(sent!.errorCode, kafkaErrors.NONE);
    assert.ok(released, 'kafkajs was refused before its batch was stored');
    assert.ok(retried.some((logged) => logged.startsWith('Failed to send messages: Messages are rejected since there are fewer in-sync replicas')), retried.join('\n'));
    const offset = BigInt(sent!.baseOffset!);
    const [stored] = await stack.broker.fetch({ partitions: [{ topic: 'slow', partition: 0, offset, bytesMax: messageBytesMaxLimit }], waitMs: 0 });
    const [record] = decodeBatches(stored!.records, { decompressedBytesMax: messageBytesMaxLimit, offsetMin: offset });
    assert.deepEqual([record!.offset, record!.value!.length, record!.value![0]], [offset, 63 * 1024 * 1024 + 1024, 2]);
  } finally {
    disk.release();
    await producer.disconnect();
    for (const client of clients) client.close();
    await stack.close();
  }
});
