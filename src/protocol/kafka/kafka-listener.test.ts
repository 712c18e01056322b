/**
 * The listener at the byte level: a raw socket sends hand-built requests and reads the frames back.
 * Covers request order, acks 0, refusals (unknown API, unsupported versions), corrupt and control batches,
 * oversized and malformed frames, and garbage that must never take the listener down.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { crc32c } from '../../format/crc32c.js';
import { batchAttributes, batchOffsets, decodeBatches, encodeBatch } from '../../format/record-batch.js';
import { SharedByteBudget } from '../../util/byte-budget.js';
import { decodeResponse } from './wire/codec.js';
import { kafkaErrors } from './wire/error-codes.js';
import { kafkaMessages as m } from './wire/messages.js';
import { advertisedVersions } from './wire/versions.js';
import { fetchBytesInFlightMax } from './kafka-connection.js';
import { KafkaListener } from './kafka-listener.js';
import { RawClient } from './kafka-raw-client.js';
import { startKafkaStack, type KafkaStack } from './kafka-test-stack.js';
import { peakOver } from '../../util/testing/peak.js';
import { waitFor } from '../../util/testing/wait.js';

let stack: KafkaStack;

before(async () => {
  stack = await startKafkaStack({ requestBytesMax: 1 << 20 });
});

after(async () => {
  await stack.close();
});

function batchOf(values: string[]): Buffer {
  return encodeBatch(values.map((value) => ({ value: Buffer.from(value) })));
}

test('responses come back in request order while a fetch long-polls; a produce wakes it', { timeout: 20_000 }, async () => {
  await stack.broker.createTopic('ordered', { partitions: 1 });
  const client = await RawClient.open(stack.port);
  const other = await RawClient.open(stack.port);
  try {
    const started = Date.now();
    const fetchId = client.send(m.fetch, 11, {
      maxWaitMs: 3000,
      minBytes: 1,
      topics: [{ topic: 'ordered', partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 1 << 20 }] }],
    });
    const versionsId = client.send(m.apiVersions, 2, {});
    await new Promise((resolve) => setTimeout(resolve, 200));
    other.send(m.produce, 7, { acks: -1, timeoutMs: 1000, topics: [{ name: 'ordered', partitions: [{ index: 0, records: batchOf(['wake']) }] }] });
    const first = decodeResponse(m.fetch, 11, (await client.next())!);
    const second = decodeResponse(m.apiVersions, 2, (await client.next())!);
    assert.equal(first.correlationId, fetchId);
    assert.equal(second.correlationId, versionsId);
    const partition = first.body.responses[0]!.partitions[0]!;
    assert.equal(partition.errorCode, 0);
    assert.equal(partition.highWatermark, 1n);
    assert.ok(partition.records!.length > 61);
    assert.ok(Date.now() - started < 2500, 'the produce ended the long poll');
    const produced = decodeResponse(m.produce, 7, (await other.next())!);
    assert.equal(produced.body.responses[0]!.partitions[0]!.baseOffset, 0n);
  } finally {
    client.close();
    other.close();
  }
});

test('many long polls on one connection raise no listener-leak warning', { timeout: 20_000 }, async () => {
  await stack.broker.createTopic('polled');
  const client = await RawClient.open(stack.port);
  const warnings: string[] = [];
  const onWarning = (warning: Error): void => void warnings.push(warning.name);
  process.on('warning', onWarning);
  try {
    for (let i = 0; i < 20; i++) {
      client.send(m.fetch, 11, { maxWaitMs: 200, minBytes: 1, topics: [{ topic: 'polled', partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 1 << 20 }] }] });
    }
    for (let i = 0; i < 20; i++) assert.equal(decodeResponse(m.fetch, 11, (await client.next())!).body.responses[0]!.partitions[0]!.errorCode, 0);
    await new Promise((resolve) => setTimeout(resolve, 10)); // warnings are emitted on a later tick
    assert.deepEqual(warnings, []);
  } finally {
    process.off('warning', onWarning);
    client.close();
  }
});

test('past 64 requests in flight the connection stops reading; the rest are answered in order once slots free', { timeout: 20_000 }, async () => {
  await stack.broker.createTopic('parked', { partitions: 1 });
  const client = await RawClient.open(stack.port);
  try {
    // 150 long polls in one write: the first 64 take every slot and park for 300 ms, the rest wait
    // unread (copied out of the shared read buffer) until those answers have gone out.
    const count = 150;
    const ids: number[] = [];
    const started = Date.now();
    client.socket.cork();
    for (let i = 0; i < count; i++) {
      ids.push(client.send(m.fetch, 11, {
        maxWaitMs: 300,
        minBytes: 1,
        topics: [{ topic: 'parked', partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 1 << 20 }] }],
      }));
    }
    client.socket.uncork();
    for (const id of ids) {
      const response = decodeResponse(m.fetch, 11, (await client.next())!);
      assert.equal(response.correlationId, id);
      assert.equal(response.body.responses[0]!.partitions[0]!.errorCode, 0);
    }
    // 64 at a time: the last ones could start only after two rounds of long polls.
    assert.ok(Date.now() - started >= 600, `all ${count} answered in ${Date.now() - started} ms`);
  } finally {
    client.close();
  }
});

test('acks 0 gets no response; the next request is answered', { timeout: 10_000 }, async () => {
  await stack.broker.createTopic('fire', { partitions: 1 });
  const client = await RawClient.open(stack.port);
  try {
    client.send(m.produce, 7, { acks: 0, timeoutMs: 1000, topics: [{ name: 'fire', partitions: [{ index: 0, records: batchOf(['x']) }] }] });
    const id = client.send(m.apiVersions, 0, {});
    const response = decodeResponse(m.apiVersions, 0, (await client.next())!);
    assert.equal(response.correlationId, id);
    const [fetched] = await stack.broker.fetch({ partitions: [{ topic: 'fire', partition: 0, offset: 0n, bytesMax: 1 << 20 }], waitMs: 1000 });
    assert.ok(fetched!.records.length > 0);
  } finally {
    client.close();
  }
});

test('a failed produce with acks 0 closes the connection after the responses before it', { timeout: 10_000 }, async () => {
  await stack.broker.createTopic('fire-once', { partitions: 1 });
  const client = await RawClient.open(stack.port);
  try {
    const id = client.send(m.apiVersions, 0, {});
    client.send(m.produce, 7, { acks: 0, timeoutMs: 1000, topics: [{ name: 'fire-once', partitions: [{ index: 0, records: batchOf(['kept']) }, { index: 5, records: batchOf(['lost']) }] }] });
    client.send(m.apiVersions, 0, {});
    assert.equal(decodeResponse(m.apiVersions, 0, (await client.next())!).correlationId, id);
    // Partition 5 does not exist: the client learns of it only by the connection closing.
    assert.equal(await client.next(), null);
    // The partition that exists was written; the listener serves new connections.
    assert.equal(stack.broker.describeTopic('fire-once').partitions[0]!.offsetEnd, 1n);
    const next = await RawClient.open(stack.port);
    try {
      assert.equal((await next.call(m.apiVersions, 0, {})).errorCode, 0);
    } finally {
      next.close();
    }
  } finally {
    client.close();
  }
});

test('Produce to a missing topic gets UNKNOWN_TOPIC_OR_PARTITION and creates nothing (only Metadata creates topics)', { timeout: 10_000 }, async () => {
  await stack.broker.createTopic('produce-existing', { partitions: 1 });
  const client = await RawClient.open(stack.port);
  try {
    const response = await client.call(m.produce, 7, {
      acks: -1,
      timeoutMs: 1000,
      topics: [
        { name: 'produce-missing', partitions: [{ index: 0, records: batchOf(['lost']) }, { index: 1, records: batchOf(['lost']) }] },
        { name: 'produce-existing', partitions: [{ index: 0, records: batchOf(['kept']) }] },
      ],
    });
    assert.deepEqual(
      response.responses.map((topic) => `${topic.name}:${topic.partitions.map((p) => p.errorCode).join(',')}`),
      [`produce-missing:${kafkaErrors.UNKNOWN_TOPIC_OR_PARTITION},${kafkaErrors.UNKNOWN_TOPIC_OR_PARTITION}`, 'produce-existing:0'],
    );
    assert.throws(() => stack.broker.describeTopic('produce-missing'), { code: 'UNKNOWN_TOPIC' });
    assert.equal(stack.broker.describeTopic('produce-existing').partitions[0]!.offsetEnd, 1n);
  } finally {
    client.close();
  }
});

test('a produce response carries logAppendTime -1: stored timestamps are the producer timestamps', { timeout: 10_000 }, async () => {
  await stack.broker.createTopic('create-time', { partitions: 1 });
  const client = await RawClient.open(stack.port);
  try {
    const records = encodeBatch([{ value: Buffer.from('old'), timestamp: 1000 }]);
    const response = await client.call(m.produce, 7, { acks: 1, timeoutMs: 1000, topics: [{ name: 'create-time', partitions: [{ index: 0, records }] }] });
    const partition = response.responses[0]!.partitions[0]!;
    assert.equal(partition.errorCode, 0);
    assert.equal(partition.logAppendTimeMs, -1n);
    const [fetched] = await stack.broker.fetch({ partitions: [{ topic: 'create-time', partition: 0, offset: 0n, bytesMax: 1 << 20 }], waitMs: 0 });
    assert.equal(decodeBatches(fetched!.records, { decompressedBytesMax: 1 << 20 })[0]!.timestamp, 1000);
  } finally {
    client.close();
  }
});

test('Produce below v7 refuses a zstd batch anywhere in the records of a partition and stores none of them', { timeout: 10_000 }, async () => {
  await stack.broker.createTopic('zstd-late', { partitions: 1 });
  const client = await RawClient.open(stack.port);
  try {
    const records = Buffer.concat([batchOf(['plain']), encodeBatch([{ value: Buffer.from('z'.repeat(200)) }], { compression: 4 })]);
    const old = await client.call(m.produce, 5, { acks: 1, timeoutMs: 1000, topics: [{ name: 'zstd-late', partitions: [{ index: 0, records }] }] });
    assert.equal(old.responses[0]!.partitions[0]!.errorCode, kafkaErrors.UNSUPPORTED_COMPRESSION_TYPE);
    assert.equal(stack.broker.describeTopic('zstd-late').partitions[0]!.offsetEnd, 0n);
    const current = await client.call(m.produce, 7, { acks: 1, timeoutMs: 1000, topics: [{ name: 'zstd-late', partitions: [{ index: 0, records }] }] });
    assert.equal(current.responses[0]!.partitions[0]!.errorCode, 0);
    assert.equal(stack.broker.describeTopic('zstd-late').partitions[0]!.offsetEnd, 2n);
  } finally {
    client.close();
  }
});

test('Produce of a batch dated more than message.timestamp.after.max.ms ahead gets INVALID_TIMESTAMP for its partition only', { timeout: 10_000 }, async () => {
  await stack.broker.createTopic('dated', { partitions: 2 });
  const client = await RawClient.open(stack.port);
  try {
    const future = encodeBatch([{ value: Buffer.from('from the future'), timestamp: Date.now() + 2 * 3_600_000 }]);
    const answer = await client.call(m.produce, 7, {
      acks: -1,
      timeoutMs: 1000,
      topics: [{ name: 'dated', partitions: [{ index: 0, records: future }, { index: 1, records: batchOf(['now']) }] }],
    });
    const partitions = answer.responses[0]!.partitions;
    assert.deepEqual(partitions.map((partition) => partition.errorCode), [kafkaErrors.INVALID_TIMESTAMP, 0]);
    assert.deepEqual(stack.broker.describeTopic('dated').partitions.map((partition) => partition.offsetEnd), [0n, 1n]);
  } finally {
    client.close();
  }
});

/** `batch` with its header's timestamps replaced (and its CRC made to match). */
function redated(batch: Buffer, timestamps: { baseMs?: bigint; maxMs?: bigint }): Buffer {
  if (timestamps.baseMs !== undefined) batch.writeBigInt64BE(timestamps.baseMs, batchOffsets.baseTimestamp);
  if (timestamps.maxMs !== undefined) batch.writeBigInt64BE(timestamps.maxMs, batchOffsets.maxTimestamp);
  batch.writeUInt32BE(crc32c(batch.subarray(batchOffsets.attributes)), batchOffsets.crc);
  return batch;
}

test('Produce of timestamps beyond 2^53 (nanoseconds sent as milliseconds) gets INVALID_TIMESTAMP under the ahead bound, CORRUPT_MESSAGE without one', { timeout: 10_000 }, async () => {
  await stack.broker.createTopic('nano-dated', { partitions: 3 });
  await stack.broker.createTopic('nano-dated-unbounded', { partitions: 1, timestampAheadMsMax: null });
  const client = await RawClient.open(stack.port);
  try {
    const nowMs = Date.now();
    const nanos = BigInt(nowMs) * 1_000_000n;
    const nanoBatch = (): Buffer => redated(encodeBatch([{ value: Buffer.from('ns'), timestamp: nowMs }]), { baseMs: nanos, maxMs: nanos });
    // Only the records say so: the header's maxTimestamp is an honest-looking now.
    const nanoRecords = redated(encodeBatch([{ value: Buffer.from('ns'), timestamp: nowMs }]), { baseMs: nanos, maxMs: BigInt(nowMs) });
    const answer = await client.call(m.produce, 7, {
      acks: -1,
      timeoutMs: 1000,
      topics: [
        { name: 'nano-dated', partitions: [{ index: 0, records: nanoBatch() }, { index: 1, records: nanoRecords }, { index: 2, records: batchOf(['now']) }] },
        { name: 'nano-dated-unbounded', partitions: [{ index: 0, records: nanoBatch() }] },
      ],
    });
    assert.deepEqual(
      answer.responses.map((topic) => topic.partitions.map((partition) => partition.errorCode)),
      [[kafkaErrors.INVALID_TIMESTAMP, kafkaErrors.INVALID_TIMESTAMP, 0], [kafkaErrors.CORRUPT_MESSAGE]],
    );
    assert.deepEqual(stack.broker.describeTopic('nano-dated').partitions.map((partition) => partition.offsetEnd), [0n, 0n, 1n]);
    assert.equal(stack.broker.describeTopic('nano-dated-unbounded').partitions[0]!.offsetEnd, 0n);
  } finally {
    client.close();
  }
});

test('Produce checks the timestamp of each record, not the batch header maxTimestamp: a header that understates it gets INVALID_TIMESTAMP', { timeout: 10_000 }, async () => {
  await stack.broker.createTopic('understated', { partitions: 1 });
  const client = await RawClient.open(stack.port);
  try {
    const nowMs = Date.now();
    const batch = encodeBatch([
      { value: Buffer.from('now'), timestamp: nowMs },
      { value: Buffer.from('from the future'), timestamp: nowMs + 2 * 3_600_000 },
    ]);
    const answer = await client.call(m.produce, 7, {
      acks: -1,
      timeoutMs: 1000,
      topics: [{ name: 'understated', partitions: [{ index: 0, records: redated(batch, { maxMs: BigInt(nowMs) }) }] }],
    });
    assert.equal(answer.responses[0]!.partitions[0]!.errorCode, kafkaErrors.INVALID_TIMESTAMP);
    assert.equal(stack.broker.describeTopic('understated').partitions[0]!.offsetEnd, 0n);
  } finally {
    client.close();
  }
});

test('OffsetCommit: each partition is committed or refused alone; a negative offset is stored as Kafka stores it', { timeout: 10_000 }, async () => {
  await stack.broker.createTopic('commits', { partitions: 3 });
  const client = await RawClient.open(stack.port);
  try {
    const committed = await client.call(m.offsetCommit, 2, {
      groupId: 'each-alone',
      generationId: -1,
      memberId: '',
      topics: [
        {
          name: 'commits',
          partitions: [
            { partitionIndex: 0, committedOffset: 3n },
            { partitionIndex: 9, committedOffset: 1n },
            { partitionIndex: 1, committedOffset: -2n },
            { partitionIndex: 2, committedOffset: 5n, committedMetadata: 'm'.repeat(4097) },
          ],
        },
        { name: 'no-such-topic-here', partitions: [{ partitionIndex: 0, committedOffset: 1n }] },
      ],
    });
    assert.deepEqual(
      committed.topics.map((topic) => topic.partitions.map((partition) => partition.errorCode)),
      [[0, kafkaErrors.UNKNOWN_TOPIC_OR_PARTITION, 0, kafkaErrors.OFFSET_METADATA_TOO_LARGE], [kafkaErrors.UNKNOWN_TOPIC_OR_PARTITION]],
    );
    const fetched = await client.call(m.offsetFetch, 2, { groupId: 'each-alone', topics: [{ name: 'commits', partitionIndexes: [0, 1, 2] }] });
    assert.deepEqual(fetched.topics[0]!.partitions.map((partition) => partition.committedOffset), [3n, -2n, -1n]);
    // A partition without a position has no lag.
    const described = stack.broker.describeGroup('each-alone');
    assert.deepEqual(described.offsets.map((entry) => [entry.partition, entry.offset, entry.lag]), [[0, 3n, 0n], [1, -2n, -1n]]);
  } finally {
    client.close();
  }
});

test('OffsetCommit with generation -1 to an active group: a known member gets ILLEGAL_GENERATION, an unknown or empty member id UNKNOWN_MEMBER_ID, as in Kafka', { timeout: 10_000 }, async () => {
  await stack.broker.createTopic('generation-less', { partitions: 1 });
  const client = await RawClient.open(stack.port);
  try {
    const joined = await client.call(m.joinGroup, 5, {
      groupId: 'generation-less-group',
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 10_000,
      memberId: '',
      protocolType: 'consumer',
      protocols: [{ name: 'range', metadata: Buffer.from('meta') }],
    });
    assert.equal(joined.errorCode, 0);
    const synced = await client.call(m.syncGroup, 3, {
      groupId: 'generation-less-group',
      generationId: joined.generationId,
      memberId: joined.memberId,
      assignments: [{ memberId: joined.memberId, assignment: Buffer.from('all') }],
    });
    assert.equal(synced.errorCode, 0);
    const commitAs = async (memberId: string) => {
      const answer = await client.call(m.offsetCommit, 7, {
        groupId: 'generation-less-group',
        generationId: -1,
        memberId,
        topics: [{ name: 'generation-less', partitions: [{ partitionIndex: 0, committedOffset: 1n, committedMetadata: null }] }],
      });
      return answer.topics[0]!.partitions[0]!.errorCode;
    };
    assert.equal(await commitAs(joined.memberId), kafkaErrors.ILLEGAL_GENERATION);
    assert.equal(await commitAs('nobody'), kafkaErrors.UNKNOWN_MEMBER_ID);
    assert.equal(await commitAs(''), kafkaErrors.UNKNOWN_MEMBER_ID);
    const fetched = await client.call(m.offsetFetch, 2, { groupId: 'generation-less-group', topics: [{ name: 'generation-less', partitionIndexes: [0] }] });
    assert.equal(fetched.topics[0]!.partitions[0]!.committedOffset, -1n);
    await client.call(m.leaveGroup, 3, { groupId: 'generation-less-group', members: [{ memberId: joined.memberId }] });
  } finally {
    client.close();
  }
});

test('OffsetCommit v7 naming a group instance id goes through the static member checks, as in Kafka', { timeout: 10_000 }, async () => {
  await stack.broker.createTopic('static-commits', { partitions: 1 });
  const groupId = 'static-commit-group';
  const client = await RawClient.open(stack.port);
  try {
    const joined = await client.call(m.joinGroup, 5, {
      groupId,
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 10_000,
      memberId: '',
      groupInstanceId: 'instance-a',
      protocolType: 'consumer',
      protocols: [{ name: 'range', metadata: Buffer.from('meta') }],
    });
    assert.equal(joined.errorCode, 0);
    const synced = await client.call(m.syncGroup, 3, {
      groupId,
      generationId: joined.generationId,
      memberId: joined.memberId,
      groupInstanceId: 'instance-a',
      assignments: [{ memberId: joined.memberId, assignment: Buffer.from('all') }],
    });
    assert.equal(synced.errorCode, 0);
    const commitAs = async (generationId: number, memberId: string, groupInstanceId: string) => {
      const answer = await client.call(m.offsetCommit, 7, {
        groupId,
        generationId,
        memberId,
        groupInstanceId,
        topics: [{ name: 'static-commits', partitions: [{ partitionIndex: 0, committedOffset: 1n, committedMetadata: null }] }],
      });
      return answer.topics[0]!.partitions[0]!.errorCode;
    };
    // The instance is held by another member id (here: none given): fenced, whatever the generation.
    assert.equal(await commitAs(-1, '', 'instance-a'), kafkaErrors.FENCED_INSTANCE_ID);
    assert.equal(await commitAs(joined.generationId, 'someone-else', 'instance-a'), kafkaErrors.FENCED_INSTANCE_ID);
    // No member holds the instance: an unknown member, even with a member id and generation that are current.
    assert.equal(await commitAs(-1, '', 'instance-nobody'), kafkaErrors.UNKNOWN_MEMBER_ID);
    assert.equal(await commitAs(joined.generationId, joined.memberId, 'instance-nobody'), kafkaErrors.UNKNOWN_MEMBER_ID);
    // The holder itself: generation -1 is ILLEGAL_GENERATION, the current one commits.
    assert.equal(await commitAs(-1, joined.memberId, 'instance-a'), kafkaErrors.ILLEGAL_GENERATION);
    const fetched = await client.call(m.offsetFetch, 2, { groupId, topics: [{ name: 'static-commits', partitionIndexes: [0] }] });
    assert.equal(fetched.topics[0]!.partitions[0]!.committedOffset, -1n, 'no refused commit was stored');
    assert.equal(await commitAs(joined.generationId, joined.memberId, 'instance-a'), kafkaErrors.NONE);

    // Once the group has no members, generation -1 commits from outside it, instance id or not.
    const left = await client.call(m.leaveGroup, 3, { groupId, members: [{ memberId: '', groupInstanceId: 'instance-a' }] });
    assert.deepEqual(left.members.map((member) => member.errorCode), [kafkaErrors.NONE]);
    assert.equal(await commitAs(-1, '', 'instance-a'), kafkaErrors.NONE);
  } finally {
    client.close();
  }
});

test('fetches pipelined by a client that never reads hold about fetchBytesInFlightMax; all answer once it reads', { timeout: 60_000 }, async () => {
  await stack.broker.createTopic('hoard', { partitions: 1 });
  const value = Buffer.alloc(1000, 5);
  for (let i = 0; i < 170; i++) {
    await stack.broker.produce({ topic: 'hoard', partition: 0, acks: 'leader', batches: encodeBatch(Array.from({ length: 50 }, () => ({ value }))) });
  }
  const client = await RawClient.open(stack.port);
  try {
    const fetches = 20;
    const responseBytes = 8 << 20;
    const request = { maxWaitMs: 0, minBytes: 1, maxBytes: responseBytes, topics: [{ topic: 'hoard', partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: responseBytes }] }] };
    client.socket.pause(); // reads nothing until asked below
    for (let i = 0; i < fetches; i++) client.send(m.fetch, 11, request);
    let peak = 0;
    for (let i = 0; i < 30; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      peak = Math.max(peak, stack.listener.outboundBytes);
    }
    assert.ok(peak > responseBytes, `responses were queued (the test measures something): ${peak}`);
    assert.ok(peak <= fetchBytesInFlightMax + responseBytes, `about fetchBytesInFlightMax was queued (peak ${peak} bytes of ${fetches} responses of 8 MiB)`);
    client.socket.resume();
    for (let i = 0; i < fetches; i++) assert.ok(await client.next(10_000), `response ${i}`);
  } finally {
    client.close();
  }
});

test('fetch memory shared by connections: a client that never reads holds about its bound, another still reads everything in fetches shrunk to about grantBytesMin, nothing stays held once both are gone', { timeout: 60_000 }, async () => {
  const fetchMemory = new SharedByteBudget({ bytesMax: 8 << 20, grantBytesMin: 64 * 1024 });
  const listener = new KafkaListener(stack.broker, { host: '127.0.0.1', port: 0, fetchMemory });
  const { port } = await listener.start();
  const greedy = await RawClient.open(port);
  try {
    // 12 MB in batches of about 50 KB: more than the bound, and every fetch from 0 could take it all.
    await stack.broker.createTopic('shared', { partitions: 1, flush: { kind: 'none' } });
    const value = Buffer.alloc(1000, 4);
    for (let i = 0; i < 240; i++) {
      await stack.broker.produce({ topic: 'shared', partition: 0, acks: 'leader', batches: encodeBatch(Array.from({ length: 50 }, () => ({ value }))) });
    }
    const bigFetch = (offset: bigint) => ({ maxWaitMs: 0, minBytes: 1, maxBytes: 16 << 20, topics: [{ topic: 'shared', partitions: [{ partition: 0, fetchOffset: offset, partitionMaxBytes: 16 << 20 }] }] });
    greedy.socket.pause(); // reads nothing until asked below
    const fetches = 5;
    for (let i = 0; i < fetches; i++) greedy.send(m.fetch, 11, bigFetch(0n));
    // Its first fetch takes the whole bound; its response, unread, holds it.
    await waitFor(() => fetchMemory.held >= fetchMemory.bytesMax - 64 * 1024);
    // Its further fetches wait for that response, though its own bound (64 MiB) has room for them.
    const peak = await peakOver(() => fetchMemory.held);
    assert.ok(peak <= fetchMemory.bytesMax + 64 * 1024, `about the bound is held (peak ${peak} bytes)`);
    // Another client asking as much still reads it all, in fetches of about 64 KiB.
    const reader = await RawClient.open(port);
    let offset = 0n;
    let largest = 0;
    try {
      while (offset < 12_000n) {
        const body = await reader.call(m.fetch, 11, bigFetch(offset));
        const partition = body.responses[0]!.partitions[0]!;
        assert.equal(partition.errorCode, kafkaErrors.NONE);
        assert.ok(partition.records!.length > 0, `the fetch at ${offset} returned records`);
        largest = Math.max(largest, partition.records!.length);
        offset = decodeBatches(partition.records!, { decompressedBytesMax: 1 << 24, offsetMin: offset }).at(-1)!.offset + 1n;
      }
    } finally {
      reader.close();
    }
    assert.ok(largest <= 64 * 1024, `fetches shrunk to grantBytesMin (largest response ${largest} bytes)`);
    // Once the greedy client reads, its waiting fetches run and answer.
    greedy.socket.resume();
    for (let i = 0; i < fetches; i++) assert.ok(await greedy.next(10_000), `response ${i}`);
    greedy.close();
    await waitFor(() => fetchMemory.held === 0);
  } finally {
    greedy.close();
    await listener.close();
  }
});

test('unsupported versions and unknown APIs get UNSUPPORTED_VERSION; the connection stays usable', { timeout: 10_000 }, async () => {
  const client = await RawClient.open(stack.port);
  try {
    // ApiVersions v7: v0 body, error 35, the advertised ranges.
    const unknownVersion = Buffer.from('00000010' + '00120007' + '00000063' + '0001' + '61' + '00' + '00', 'hex');
    unknownVersion.writeInt32BE(unknownVersion.length - 4, 0);
    client.socket.write(unknownVersion);
    const versions = decodeResponse(m.apiVersions, 0, (await client.next())!);
    assert.equal(versions.correlationId, 0x63);
    assert.equal(versions.body.errorCode, kafkaErrors.UNSUPPORTED_VERSION);
    assert.equal(versions.body.apiKeys.length, advertisedVersions.length);
    // API key 99: correlation id and the error code.
    const unknownApi = Buffer.from('0000000a' + '00630000' + '00000064' + 'ffff', 'hex');
    client.socket.write(unknownApi);
    assert.equal((await client.next())!.toString('hex'), '00000064' + '0023');
    // Produce v2 is advertised (librdkafka needs v0 in range) but refused per partition.
    const produceId = client.send(m.produce, 2, { acks: 1, timeoutMs: 1000, topics: [{ name: 'old', partitions: [{ index: 0, records: Buffer.alloc(30) }] }] });
    const produce = decodeResponse(m.produce, 2, (await client.next())!);
    assert.equal(produce.correlationId, produceId);
    assert.equal(produce.body.responses[0]!.partitions[0]!.errorCode, kafkaErrors.UNSUPPORTED_VERSION);
    // Fetch v3 is not advertised at all.
    const fetchV3 = Buffer.from('0000000e' + '00010003' + '00000065' + 'ffff' + 'ffffffff', 'hex');
    client.socket.write(fetchV3);
    assert.equal((await client.next())!.toString('hex'), '00000065' + '0023');
    const id = client.send(m.apiVersions, 3, { clientSoftwareName: 'raw', clientSoftwareVersion: '1' });
    const v3 = decodeResponse(m.apiVersions, 3, (await client.next())!);
    assert.equal(v3.correlationId, id);
    assert.equal(v3.body.errorCode, 0);
  } finally {
    client.close();
  }
});

test('a corrupt batch fails its partition with CORRUPT_MESSAGE; the others are stored', { timeout: 10_000 }, async () => {
  await stack.broker.createTopic('mixed', { partitions: 2 });
  const client = await RawClient.open(stack.port);
  try {
    const corrupt = batchOf(['bad']);
    corrupt[corrupt.length - 1]! ^= 0xff; // breaks the CRC
    client.send(m.produce, 7, {
      acks: 1,
      timeoutMs: 1000,
      topics: [{ name: 'mixed', partitions: [{ index: 0, records: corrupt }, { index: 1, records: batchOf(['good']) }] }],
    });
    const response = decodeResponse(m.produce, 7, (await client.next())!);
    const partitions = response.body.responses[0]!.partitions;
    assert.deepEqual(partitions.map((partition) => partition.errorCode), [kafkaErrors.CORRUPT_MESSAGE, 0]);
    assert.equal(partitions[1]!.baseOffset, 0n);
    assert.equal(stack.broker.describeTopic('mixed').partitions[0]!.offsetEnd, 0n);
  } finally {
    client.close();
  }
});

test('Produce records with no batch or a first batch that is not magic 2 get INVALID_RECORD, as in Kafka; nothing is stored', { timeout: 10_000 }, async () => {
  await stack.broker.createTopic('not-v2', { partitions: 4 });
  const client = await RawClient.open(stack.port);
  try {
    const legacy = batchOf(['old']);
    legacy.writeInt8(1, batchOffsets.magic); // a MessageSet v1 header has its magic at the same byte
    const response = await client.call(m.produce, 7, {
      acks: 1,
      timeoutMs: 1000,
      topics: [{ name: 'not-v2', partitions: [{ index: 0, records: null }, { index: 1, records: Buffer.alloc(0) }, { index: 2, records: legacy }, { index: 3, records: batchOf(['new']) }] }],
    });
    const partitions = response.responses[0]!.partitions;
    assert.deepEqual(partitions.map((partition) => partition.errorCode), [kafkaErrors.INVALID_RECORD, kafkaErrors.INVALID_RECORD, kafkaErrors.INVALID_RECORD, 0]);
    assert.deepEqual(stack.broker.describeTopic('not-v2').partitions.map((partition) => partition.offsetEnd), [0n, 0n, 0n, 1n]);
  } finally {
    client.close();
  }
});

test('a control batch from a client gets INVALID_RECORD and is not stored (consumers would skip it)', { timeout: 10_000 }, async () => {
  await stack.broker.createTopic('controlled');
  const client = await RawClient.open(stack.port);
  try {
    const control = batchOf(['marker']);
    control.writeInt16BE(control.readInt16BE(batchOffsets.attributes) | batchAttributes.control, batchOffsets.attributes);
    control.writeUInt32BE(crc32c(control.subarray(batchOffsets.attributes)), batchOffsets.crc); // well-formed
    client.send(m.produce, 7, { acks: 1, timeoutMs: 1000, topics: [{ name: 'controlled', partitions: [{ index: 0, records: control }] }] });
    const response = decodeResponse(m.produce, 7, (await client.next())!);
    assert.equal(response.body.responses[0]!.partitions[0]!.errorCode, kafkaErrors.INVALID_RECORD);
    assert.equal(stack.broker.describeTopic('controlled').partitions[0]!.offsetEnd, 0n);
  } finally {
    client.close();
  }
});

test('an oversized or malformed frame closes only its own connection', { timeout: 10_000 }, async () => {
  const bystander = await RawClient.open(stack.port);
  const oversized = await RawClient.open(stack.port);
  const malformed = await RawClient.open(stack.port);
  try {
    oversized.socket.write(Buffer.from('00200000', 'hex')); // 2 MiB claimed, limit 1 MiB
    assert.ok(await oversized.closedWithin(2000));
    // A Metadata v1 whose topic count runs past the frame.
    malformed.socket.write(Buffer.from('0000000e' + '00030001' + '00000001' + 'ffff' + '00000005', 'hex'));
    assert.ok(await malformed.closedWithin(2000));
    const id = bystander.send(m.metadata, 1, { topics: null });
    const metadata = decodeResponse(m.metadata, 1, (await bystander.next())!);
    assert.equal(metadata.correlationId, id);
    assert.deepEqual(metadata.body.brokers.map((broker) => `${broker.nodeId}@${broker.host}:${broker.port}`), [`1@127.0.0.1:${stack.port}`]);
    assert.ok(stack.logs.some((line) => line.includes('frame size 2097152')));
  } finally {
    bystander.close();
    oversized.close();
    malformed.close();
  }
});

test('random garbage never takes the listener down', { timeout: 30_000 }, async () => {
  let seed = 12345;
  const random = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  for (let round = 0; round < 60; round++) {
    const client = await RawClient.open(stack.port);
    const length = random() % 64;
    const body = Buffer.from(Array.from({ length }, () => random() & 0xff));
    // Keep a real-looking header half the time so the body decoders get exercised.
    if (round % 2 === 0 && length >= 4) {
      body.writeInt16BE([0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 22][random() % 17]!, 0);
      body.writeInt16BE(random() % 8, 2);
    }
    const frame = Buffer.alloc(4 + body.length);
    frame.writeInt32BE(body.length, 0);
    body.copy(frame, 4);
    client.socket.write(frame);
    await Promise.race([client.next(2000).catch(() => null), client.closedWithin(2000)]);
    client.close();
  }
  const client = await RawClient.open(stack.port);
  try {
    const id = client.send(m.apiVersions, 2, {});
    assert.equal(decodeResponse(m.apiVersions, 2, (await client.next())!).correlationId, id);
  } finally {
    client.close();
  }
});

test('Fetch below v10 does not hand out zstd batches', { timeout: 10_000 }, async () => {
  const zstd = encodeBatch([{ value: Buffer.from('z'.repeat(200)) }], { compression: 4 });
  await stack.broker.produce({ topic: 'zstd-topic', partition: 0, batches: zstd, acks: 'leader' });
  const client = await RawClient.open(stack.port);
  try {
    const request = { maxWaitMs: 0, minBytes: 1, topics: [{ topic: 'zstd-topic', partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 1 << 20 }] }] };
    client.send(m.fetch, 9, request);
    const old = decodeResponse(m.fetch, 9, (await client.next())!).body.responses[0]!.partitions[0]!;
    assert.equal(old.errorCode, kafkaErrors.UNSUPPORTED_COMPRESSION_TYPE);
    assert.equal(old.records!.length, 0);
    client.send(m.fetch, 10, request);
    const current = decodeResponse(m.fetch, 10, (await client.next())!).body.responses[0]!.partitions[0]!;
    assert.equal(current.errorCode, 0);
    assert.equal(current.records!.length, zstd.length);
  } finally {
    client.close();
  }
});

test('group errors in Kafka terms: no common protocol, bad session timeout, unknown member', { timeout: 20_000 }, async () => {
  const client = await RawClient.open(stack.port);
  const join = (memberId: string, protocol: string, sessionTimeoutMs = 10_000) =>
    client.send(m.joinGroup, 5, {
      groupId: 'raw-group',
      sessionTimeoutMs,
      rebalanceTimeoutMs: 10_000,
      memberId,
      protocolType: 'consumer',
      protocols: [{ name: protocol, metadata: Buffer.from('meta') }],
    });
  try {
    join('', 'range');
    const first = decodeResponse(m.joinGroup, 5, (await client.next(15_000))!).body;
    assert.equal(first.errorCode, 0);
    assert.equal(first.leader, first.memberId);
    assert.deepEqual(first.members.map((member) => member.metadata.toString()), ['meta']);
    join('', 'RoundRobinAssigner');
    assert.equal(decodeResponse(m.joinGroup, 5, (await client.next())!).body.errorCode, kafkaErrors.INCONSISTENT_GROUP_PROTOCOL);
    join('', 'range', 10);
    assert.equal(decodeResponse(m.joinGroup, 5, (await client.next())!).body.errorCode, kafkaErrors.INVALID_SESSION_TIMEOUT);
    client.send(m.heartbeat, 3, { groupId: 'raw-group', generationId: first.generationId, memberId: 'nobody' });
    assert.equal(decodeResponse(m.heartbeat, 3, (await client.next())!).body.errorCode, kafkaErrors.UNKNOWN_MEMBER_ID);
    client.send(m.leaveGroup, 3, { groupId: 'raw-group', members: [{ memberId: first.memberId }] });
    const left = decodeResponse(m.leaveGroup, 3, (await client.next())!).body;
    assert.deepEqual(left.members.map((member) => member.errorCode), [0]);
  } finally {
    client.close();
  }
});

test('JoinGroup with an empty protocol type gets INCONSISTENT_GROUP_PROTOCOL, as in Kafka, and makes no group', { timeout: 10_000 }, async () => {
  const client = await RawClient.open(stack.port);
  try {
    const joined = await client.call(m.joinGroup, 5, {
      groupId: 'untyped-group',
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 10_000,
      memberId: '',
      protocolType: '',
      protocols: [{ name: 'range', metadata: Buffer.from('meta') }],
    });
    assert.equal(joined.errorCode, kafkaErrors.INCONSISTENT_GROUP_PROTOCOL);
    assert.equal(joined.generationId, -1);
    const listed = await client.call(m.listGroups, 2, {});
    assert.ok(!listed.groups.some((group) => group.groupId === 'untyped-group'), JSON.stringify(listed.groups));
  } finally {
    client.close();
  }
});

test('ListOffsets naming a topic-partition twice gets INVALID_REQUEST for each of those entries; the others are answered', { timeout: 10_000 }, async () => {
  await stack.broker.createTopic('listed-twice', { partitions: 2 });
  await stack.broker.produce({ topic: 'listed-twice', partition: 0, batches: batchOf(['a', 'b']), acks: 'leader' });
  const client = await RawClient.open(stack.port);
  try {
    const latest = -1n;
    const earliest = -2n;
    const response = await client.call(m.listOffsets, 2, {
      isolationLevel: 0,
      topics: [
        { name: 'listed-twice', partitions: [{ partitionIndex: 0, timestamp: latest }, { partitionIndex: 1, timestamp: latest }] },
        { name: 'listed-twice', partitions: [{ partitionIndex: 0, timestamp: earliest }] },
      ],
    });
    const answers = response.topics.flatMap((topic) => topic.partitions.map((p) => [topic.name, p.partitionIndex, p.errorCode, p.offset]));
    assert.deepEqual(answers, [
      ['listed-twice', 0, kafkaErrors.INVALID_REQUEST, -1n],
      ['listed-twice', 1, kafkaErrors.NONE, 0n],
      ['listed-twice', 0, kafkaErrors.INVALID_REQUEST, -1n],
    ]);
  } finally {
    client.close();
  }
});

test('FindCoordinator answers groups (v0 has no key type) and transactions with this node, and an unknown key type with INVALID_REQUEST', { timeout: 10_000 }, async () => {
  const client = await RawClient.open(stack.port);
  try {
    const v0 = await client.call(m.findCoordinator, 0, { key: 'some-group' });
    assert.deepEqual([v0.errorCode, v0.port], [kafkaErrors.NONE, stack.port]);
    for (const keyType of [0, 1]) {
      const known = await client.call(m.findCoordinator, 2, { key: 'some-key', keyType });
      assert.deepEqual([known.errorCode, known.port], [kafkaErrors.NONE, stack.port], `key type ${keyType}`);
    }
    for (const keyType of [2, 7, -1]) {
      const unknown = await client.call(m.findCoordinator, 2, { key: 'some-key', keyType });
      assert.deepEqual([unknown.errorCode, unknown.nodeId, unknown.host, unknown.port], [kafkaErrors.INVALID_REQUEST, -1, '', -1], `key type ${keyType}`);
      assert.match(unknown.errorMessage ?? '', new RegExp(`key type ${keyType}`));
    }
  } finally {
    client.close();
  }
});

test('a fetch refused as a whole puts the error on every requested partition (v4–v6 have no top-level error), and on the top level from v7', { timeout: 10_000 }, async () => {
  await stack.broker.createTopic('refused-fetch', { partitions: 2 });
  const client = await RawClient.open(stack.port);
  try {
    // More partitions than the broker's fetchPartitionsMax (10,000): the broker refuses the fetch.
    const partitions = Array.from({ length: 10_001 }, (_, index) => ({ partition: index % 2, fetchOffset: 0n, partitionMaxBytes: 1024 }));
    const request = { maxWaitMs: 0, minBytes: 1, topics: [{ topic: 'refused-fetch', partitions: partitions.slice(0, 10_000) }, { topic: 'refused-fetch', partitions: partitions.slice(10_000) }] };
    for (const version of [4, 6, 7, 11]) {
      const response = await client.call(m.fetch, version, request);
      if (version >= 7) assert.equal(response.errorCode, kafkaErrors.INVALID_REQUEST);
      const answered = response.responses.map((topic) => [topic.topic, topic.partitions.length]);
      assert.deepEqual(answered, [['refused-fetch', 10_000], ['refused-fetch', 1]], `v${version}`);
      const codes = new Set(response.responses.flatMap((topic) => topic.partitions.map((p) => p.errorCode)));
      assert.deepEqual([...codes], [kafkaErrors.INVALID_REQUEST], `v${version}`);
      const first = response.responses[0]!.partitions[1]!;
      assert.deepEqual([first.partitionIndex, first.highWatermark, first.records!.length], [1, -1n, 0]);
    }
  } finally {
    client.close();
  }
});

test('InitProducerId with a transactional id gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED, producer id -1 and epoch -1; without one it gets an id', { timeout: 10_000 }, async () => {
  const client = await RawClient.open(stack.port);
  try {
    for (const version of [0, 1]) {
      const refused = await client.call(m.initProducerId, version, { transactionalId: 'tx-app', transactionTimeoutMs: 60_000 });
      assert.deepEqual([refused.errorCode, refused.producerId, refused.producerEpoch], [kafkaErrors.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, -1n, -1], `v${version}`);
    }
    const idempotent = await client.call(m.initProducerId, 1, { transactionalId: null, transactionTimeoutMs: -1 });
    assert.equal(idempotent.errorCode, kafkaErrors.NONE);
    assert.ok(idempotent.producerId >= 0n && idempotent.producerEpoch >= 0);
  } finally {
    client.close();
  }
});

test('at shutdown a connection answers its long poll at once and the produce behind it, then ends: no stored produce goes unacknowledged', { timeout: 20_000 }, async () => {
  const own = await startKafkaStack();
  try {
    await own.broker.createTopic('quiet', { partitions: 1 });
    await own.broker.createTopic('graceful', { partitions: 1 });
    const client = await RawClient.open(own.port);
    const fetchId = client.send(m.fetch, 11, {
      maxWaitMs: 20_000,
      minBytes: 1,
      topics: [{ topic: 'quiet', partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 1 << 20 }] }],
    });
    // Answered in request order: the produce's response waits behind the parked fetch.
    const produceId = client.send(m.produce, 7, { acks: -1, timeoutMs: 5000, topics: [{ name: 'graceful', partitions: [{ index: 0, records: batchOf(['kept']) }] }] });
    while ((await own.broker.describeTopic('graceful')).partitions[0]!.highWatermark < 1n) await new Promise((resolve) => setTimeout(resolve, 10));
    const started = Date.now();
    const closing = own.listener.close();
    const fetched = decodeResponse(m.fetch, 11, (await client.next())!);
    assert.equal(fetched.correlationId, fetchId);
    assert.equal(fetched.body.responses[0]!.partitions[0]!.errorCode, 0);
    const produced = decodeResponse(m.produce, 7, (await client.next())!);
    assert.equal(produced.correlationId, produceId);
    assert.equal(produced.body.responses[0]!.partitions[0]!.errorCode, 0);
    assert.equal(produced.body.responses[0]!.partitions[0]!.baseOffset, 0n);
    assert.ok(await client.closedWithin(2000), 'the connection ends after its answers');
    await closing;
    assert.ok(Date.now() - started < 2000, 'the long poll did not hold the shutdown');
  } finally {
    await own.close();
  }
});

test('at shutdown a connection whose client does not read its answer is cut after closeTimeoutMs, and says so', { timeout: 20_000 }, async () => {
  const own = await startKafkaStack();
  const listener = new KafkaListener(own.broker, { host: '127.0.0.1', port: 0, closeTimeoutMs: 300, logger: (level, message) => own.logs.push(`${level}: ${message}`) });
  try {
    await own.broker.createTopic('unread', { partitions: 1 });
    const value = Buffer.alloc(1000, 7);
    for (let i = 0; i < 100; i++) {
      await own.broker.produce({ topic: 'unread', partition: 0, acks: 'leader', batches: encodeBatch(Array.from({ length: 50 }, () => ({ value }))) });
    }
    const client = await RawClient.open((await listener.start()).port);
    client.socket.pause();
    const bytes = 8 << 20;
    client.send(m.fetch, 11, { maxWaitMs: 0, minBytes: 1, maxBytes: bytes, topics: [{ topic: 'unread', partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: bytes }] }] });
    while (listener.outboundBytes === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    const started = Date.now();
    await listener.close();
    const tookMs = Date.now() - started;
    assert.ok(tookMs >= 250 && tookMs < 3000, `cut after about closeTimeoutMs, not at once nor never: ${tookMs} ms`);
    assert.ok(own.logs.some((line) => /^warn: kafka: connection from \S+ cut: still busy 300 ms after closing began/.test(line)), own.logs.join('\n'));
    client.close();
  } finally {
    await listener.close();
    await own.close();
  }
});
