import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';

// Plain objects, so that deepEqual compares them with decoded values.
const record = ((model: any, options?: any) => fc.record(model, { noNullPrototype: true, ...options })) as typeof fc.record;
import { ByteReader } from '../../../format/byte-reader.js';
import { isWeirError } from '../../../util/errors.js';
import { ByteWriter } from './byte-writer.js';
import type { Codec } from './codec.js';
import { apis, delivery, settleActions, type FlushPolicy, type QueueSettleRequest, type SubscriptionSource, type TopicDescription } from './messages.js';

function roundTrip<T>(codec: Codec<T>, value: T): T {
  const writer = new ByteWriter(16);
  codec.write(writer, value);
  const encoded = writer.finishConcat();
  const reader = new ByteReader(encoded, { code: 'INVALID_REQUEST' });
  const decoded = codec.read(reader);
  assert.equal(reader.remaining, 0, 'the decoder consumed every byte');
  return decoded;
}

const name = fc.string({ maxLength: 40 });
const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const uint32 = fc.nat({ max: 2 ** 32 - 1 });
const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
const safe = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const buffer = (maxLength: number) => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));
const flush: fc.Arbitrary<FlushPolicy> = fc.oneof(
  fc.constant({ kind: 'always' as const }),
  fc.constant({ kind: 'none' as const }),
  uint32.map((intervalMs) => ({ kind: 'interval' as const, intervalMs })),
);
const topicDescription: fc.Arbitrary<TopicDescription> = record({
  name,
  internal: fc.boolean(),
  config: record({
    partitions: int32,
    retentionMs: fc.option(safe, { nil: null }),
    retentionBytes: fc.option(safe, { nil: null }),
    flush,
    messageBytesMax: int32,
    segmentBytesMax: safe,
    segmentAgeMsMax: safe,
    messageTtlMs: fc.option(safe, { nil: null }),
    timestampAheadMsMax: fc.option(safe, { nil: null }),
    timestampBehindMsMax: fc.option(safe, { nil: null }),
  }),
  partitions: fc.array(
    record({ partition: int32, offsetStart: int64, offsetEnd: int64, highWatermark: int64, sizeBytes: safe }),
    { maxLength: 5 },
  ),
});

test('topic descriptions round trip', () => {
  fc.assert(fc.property(topicDescription, (value) => assert.deepEqual(roundTrip(apis.describeTopic.response, value), value)));
});

test('partial topic configs keep exactly the fields that were set', () => {
  fc.assert(
    fc.property(
      record({ partitions: int32, retentionMs: fc.option(safe, { nil: null }), flush }, { requiredKeys: [] }),
      (partial) => {
        const decoded = roundTrip(apis.createTopic.request, { name: 't', config: partial });
        const defined = Object.fromEntries(Object.entries(decoded.config).filter(([, v]) => v !== undefined));
        assert.deepEqual(defined, partial);
      },
    ),
  );
});

test('produce requests carry the batch bytes unchanged (large ones by reference)', () => {
  fc.assert(
    fc.property(name, int32, fc.constantFrom('none' as const, 'leader' as const), fc.nat({ max: 20_000 }), (topic, partition, acks, size) => {
      const batches = Buffer.alloc(size, 7);
      const value = { topic, partition, acks, batches };
      assert.deepEqual(roundTrip(apis.produce.request, value), value);
    }),
    { numRuns: 50 },
  );
});

test('fetch requests and responses round trip', () => {
  const request = record({
    waitMs: uint32,
    bytesMin: int32,
    bytesMaxTotal: int32,
    partitions: fc.array(record({ topic: name, partition: int32, offset: int64, bytesMax: int32 }), { maxLength: 6 }),
  });
  const response = fc.array(
    record({
      topic: name,
      partition: int32,
      errorCode: fc.nat({ max: 0xffff }),
      errorMessage: name,
      highWatermark: int64,
      offsetStart: int64,
      records: buffer(300),
    }),
    { maxLength: 6 },
  );
  fc.assert(fc.property(request, (value) => assert.deepEqual(roundTrip(apis.fetch.request, value), value)));
  fc.assert(fc.property(response, (value) => assert.deepEqual(roundTrip(apis.fetch.response, value), value)));
});

test('list offsets specs round trip', () => {
  const spec = fc.oneof(fc.constantFrom('earliest' as const, 'latest' as const), safe.map((timestampMs) => ({ timestampMs })));
  fc.assert(
    fc.property(name, int32, spec, (topic, partition, s) => {
      const value = { topic, partition, spec: s };
      assert.deepEqual(roundTrip(apis.listOffsets.request, value), value);
    }),
  );
});

test('group descriptions with either kind of assignment round trip', () => {
  const assignment = fc.oneof(
    fc.array(record({ topic: name, partitions: fc.array(int32, { maxLength: 4 }) }), { maxLength: 3 }),
    buffer(40),
  );
  const description = record({
    groupId: name,
    state: name,
    protocolType: name,
    protocolName: name,
    generationId: int32,
    members: fc.array(
      record({ memberId: name, groupInstanceId: fc.option(name, { nil: null }), clientId: name, clientHost: name, assignment }),
      { maxLength: 4 },
    ),
    offsets: fc.array(
      record({ topic: name, partition: int32, offset: int64, metadata: fc.option(name, { nil: null }), highWatermark: int64, lag: int64 }),
      { maxLength: 4 },
    ),
  });
  fc.assert(fc.property(description, (value) => assert.deepEqual(roundTrip(apis.describeGroup.response, value), value)));
});

test('subscribe requests and deliveries round trip', () => {
  const source: fc.Arbitrary<SubscriptionSource> = fc.oneof(
    record({
      kind: fc.constant('partitions' as const),
      partitions: fc.array(record({ topic: name, partition: int32, offset: int64 }), { maxLength: 4 }),
    }),
    record({
      kind: fc.constant('group' as const),
      groupId: name,
      memberId: name,
      generationId: int32,
      from: fc.constantFrom('earliest' as const, 'latest' as const),
    }),
  );
  const subscribe = record({ subscriptionId: uint32, source, creditMessages: uint32, creditBytes: uint32, deliveryBytesMax: uint32 });
  fc.assert(fc.property(subscribe, (value) => assert.deepEqual(roundTrip(apis.subscribe.request, value), value)));
  const deliveries = record({ topic: name, partition: int32, offsetFirst: int64, offsetEnd: int64, highWatermark: int64, records: buffer(100) });
  fc.assert(fc.property(deliveries, (value) => assert.deepEqual(roundTrip(delivery, value), value)));
});

test('settle actions keep their wire tags (ack 0 … extend 3; release, added in version 2, is 4) and round trip', () => {
  const request = (action: (typeof settleActions)[number]): QueueSettleRequest => ({
    topic: 't',
    subscription: 's',
    consumerId: 1,
    credits: 0,
    settlements: [{ action, partition: 0, offset: 5n, count: 2, deliveryCount: 1, leaseEpoch: 7, ms: 0, reason: '' }],
  });
  /** The tag's byte: after topic (2 + 1), subscription (2 + 1), consumerId, credits and the array count (4 each). */
  const tagAt = 18;
  for (const [tag, action] of (['ack', 'nack', 'reject', 'extend', 'release'] as const).entries()) {
    const writer = new ByteWriter(16);
    apis.queueSettle.request.write(writer, request(action));
    assert.equal(writer.finishConcat()[tagAt], tag, action);
    assert.deepEqual(roundTrip(apis.queueSettle.request, request(action)), request(action));
  }
  const writer = new ByteWriter(16);
  apis.queueSettle.request.write(writer, request('ack'));
  const unknown = writer.finishConcat();
  unknown[tagAt] = settleActions.length;
  assert.throws(() => apis.queueSettle.request.read(new ByteReader(unknown, { code: 'INVALID_REQUEST' })), /settle action tag 5 is unknown/);
});

test('arbitrary bytes decode to a value or a clean INVALID_REQUEST, never anything else', () => {
  const codecs = Object.values(apis).flatMap((spec) => [spec.request as Codec<unknown>, spec.response as Codec<unknown>]);
  codecs.push(delivery as Codec<unknown>);
  fc.assert(
    fc.property(fc.nat({ max: codecs.length - 1 }), buffer(200), (index, bytes) => {
      try {
        codecs[index]!.read(new ByteReader(bytes, { code: 'INVALID_REQUEST' }));
      } catch (error) {
        assert.ok(isWeirError(error, 'INVALID_REQUEST'), `unexpected ${String(error)}`);
      }
    }),
    { numRuns: 2000 },
  );
});

test('a huge array count is refused before allocation', () => {
  const bytes = Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0]);
  assert.throws(() => apis.fetch.response.read(new ByteReader(bytes, { code: 'INVALID_REQUEST' })), /cannot fit/);
});
