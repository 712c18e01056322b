/**
 * Changing topics through the Kafka listener, over real sockets: kafkajs's admin client grows
 * topics (CreatePartitions) and reads and replaces their configs (DescribeConfigs, AlterConfigs);
 * a raw client covers IncrementalAlterConfigs, which kafkajs lacks, and the flexible versions Java
 * clients send. Bad input gets Kafka's specific error and leaves the topic as it was.
 *
 * The broker's default retention is one hour here (the built-in default is seven days), so that
 * "back to the default" is visibly the broker's default.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import kafkajs, { type Admin } from 'kafkajs';
import { offsetsTopic } from '../../broker/offset-store.js';
import { topicConfigDefaults } from '../../broker/topic-config.js';
import { isWeirError } from '../../util/errors.js';
import { configOperations, configResourceTypes, configSources, configTypes } from './wire/config-resources.js';
import { kafkaErrors } from './wire/error-codes.js';
import { kafkaMessages as m } from './wire/messages.js';
import { RawClient } from './kafka-raw-client.js';
import { startKafkaStack, type KafkaStack } from './kafka-test-stack.js';

const { ConfigResourceTypes, Kafka, logLevel } = kafkajs;

const hourMs = 3_600_000;
const dayMs = 24 * hourMs;

let stack: KafkaStack;

before(async () => {
  stack = await startKafkaStack({ defaultTopicConfig: { retentionMs: hourMs } });
});

after(async () => {
  await stack.close();
});

function kafka(clientId: string): InstanceType<typeof Kafka> {
  return new Kafka({ clientId, brokers: [stack.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 2, initialRetryTime: 100 } });
}

async function withAdmin<T>(run: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka('admin').admin();
  await admin.connect();
  try {
    return await run(admin);
  } finally {
    await admin.disconnect();
  }
}

/** Asserts that a kafkajs call fails with the Kafka error `type` (kafkajs's name for the code). */
async function rejectsWith(call: Promise<unknown>, type: string): Promise<void> {
  await assert.rejects(call, (error: { type?: string; message?: string }) => {
    assert.equal(error.type, type, `expected ${type}, got ${error.type ?? ''}: ${error.message ?? ''}`);
    return true;
  });
}

/** As rejectsWith, for kafkajs's createTopics, which gathers the errors of its topics. */
async function creationRejectsWith(call: Promise<unknown>, type: string): Promise<void> {
  await assert.rejects(call, (error: { errors?: { type?: string }[] }) => {
    assert.deepEqual(error.errors?.map((each) => each.type), [type]);
    return true;
  });
}

/** A topic's configs as kafkajs describes them: name → `value source`. */
async function describedConfigs(admin: Admin, topic: string, configNames?: string[]): Promise<Record<string, string>> {
  const { resources } = await admin.describeConfigs({
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, ...(configNames ? { configNames } : {}) }],
    includeSynonyms: false,
  });
  assert.equal(resources.length, 1);
  assert.equal(resources[0]!.errorCode, 0);
  return Object.fromEntries(resources[0]!.configEntries.map((entry) => [entry.configName, `${entry.configValue} ${entry.configSource}`]));
}

function alterTopicConfigs(admin: Admin, topic: string, entries: Record<string, string>, validateOnly = false): Promise<unknown> {
  return admin.alterConfigs({
    validateOnly,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: Object.entries(entries).map(([name, value]) => ({ name, value })) }],
  });
}

const { TOPIC_CONFIG, STATIC_BROKER_CONFIG, DEFAULT_CONFIG } = configSources;

test('createPartitions grows a topic; a producer writes to a new partition and a consumer reads it back', { timeout: 60_000 }, async () => {
  const topic = 'grown';
  await withAdmin(async (admin) => {
    assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true }), true);
    await admin.createPartitions({ topicPartitions: [{ topic, count: 3 }] });
    assert.equal(stack.broker.describeTopic(topic).partitions.length, 3);
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    assert.deepEqual(metadata.topics[0]!.partitions.map((partition) => partition.partitionId).sort(), [0, 1, 2]);
  });
  const producer = kafka('grown-producer').producer();
  await producer.connect();
  await producer.send({ topic, messages: [{ key: 'k', value: 'on the new partition', partition: 2 }] });
  await producer.disconnect();
  const offsets = await withAdmin((admin) => admin.fetchTopicOffsets(topic));
  assert.deepEqual(offsets.map((entry) => `${entry.partition}:${entry.low}-${entry.high}`).sort(), ['0:0-0', '1:0-0', '2:0-1']);

  const consumer = kafka('grown-consumer').consumer({ groupId: 'grown-group', maxWaitTimeInMs: 200, heartbeatInterval: 300 });
  const received: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let done!: () => void;
    const arrived = new Promise<void>((resolve) => (done = resolve));
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        received.push(`${partition}:${message.key?.toString() ?? ''}=${message.value?.toString() ?? ''}`);
        done();
      },
    });
    const timer = setTimeout(done, 25_000);
    await arrived;
    clearTimeout(timer);
  } finally {
    await consumer.disconnect();
  }
  assert.deepEqual(received, ['2:k=on the new partition']);
});

test('createPartitions refuses a shrink, the same count, an unknown topic and manual assignments; validateOnly changes nothing', { timeout: 30_000 }, async () => {
  const topic = 'fixed';
  await stack.broker.createTopic(topic, { partitions: 3 });
  await withAdmin(async (admin) => {
    await rejectsWith(admin.createPartitions({ topicPartitions: [{ topic, count: 2 }] }), 'INVALID_PARTITIONS');
    await rejectsWith(admin.createPartitions({ topicPartitions: [{ topic, count: 3 }] }), 'INVALID_PARTITIONS');
    await rejectsWith(admin.createPartitions({ topicPartitions: [{ topic: 'no-such-topic', count: 4 }] }), 'UNKNOWN_TOPIC_OR_PARTITION');
    await rejectsWith(admin.createPartitions({ topicPartitions: [{ topic, count: 4, assignments: [[1]] }] }), 'INVALID_REPLICA_ASSIGNMENT');
    await rejectsWith(admin.createPartitions({ topicPartitions: [{ topic: offsetsTopic, count: 1 }] }), 'INVALID_TOPIC_EXCEPTION');
    // validateOnly: a valid growth is accepted but not made; an impossible one is refused.
    await admin.createPartitions({ topicPartitions: [{ topic, count: 5 }], validateOnly: true });
    await rejectsWith(admin.createPartitions({ topicPartitions: [{ topic, count: 1_000_000 }], validateOnly: true }), 'INVALID_PARTITIONS');
    await rejectsWith(admin.createPartitions({ topicPartitions: [{ topic, count: 1_000_000 }] }), 'INVALID_PARTITIONS');
  });
  assert.equal(stack.broker.describeTopic(topic).partitions.length, 3);
  assert.equal(stack.broker.listTopics().some((entry) => entry.name === 'no-such-topic'), false);
});

test('alterConfigs replaces the set of configs; describeConfigs shows the values and where they come from', { timeout: 30_000 }, async () => {
  const topic = 'configured';
  await withAdmin(async (admin) => {
    await admin.createTopics({ topics: [{ topic, numPartitions: 2, configEntries: [{ name: 'retention.bytes', value: '1048576' }] }] });
    assert.deepEqual(await describedConfigs(admin, topic), {
      'retention.ms': `${hourMs} ${STATIC_BROKER_CONFIG}`,
      'retention.bytes': `1048576 ${TOPIC_CONFIG}`,
      'max.message.bytes': `${topicConfigDefaults.messageBytesMax} ${DEFAULT_CONFIG}`,
      'segment.bytes': `${topicConfigDefaults.segmentBytesMax} ${DEFAULT_CONFIG}`,
      'segment.ms': `${topicConfigDefaults.segmentAgeMsMax} ${DEFAULT_CONFIG}`,
      'message.timestamp.after.max.ms': `3600000 ${DEFAULT_CONFIG}`,
      'message.timestamp.before.max.ms': `9223372036854775807 ${DEFAULT_CONFIG}`,
    });

    // Kafka semantics: retention.bytes is not named, so it returns to its default (no bound).
    // Long.MAX_VALUE is Kafka's "no limit" for message.timestamp.after.max.ms.
    const longMax = '9223372036854775807';
    await alterTopicConfigs(admin, topic, { 'retention.ms': String(dayMs), 'max.message.bytes': '2097152', 'message.timestamp.after.max.ms': longMax });
    assert.deepEqual(await describedConfigs(admin, topic), {
      'retention.ms': `${dayMs} ${TOPIC_CONFIG}`,
      'retention.bytes': `-1 ${DEFAULT_CONFIG}`,
      'max.message.bytes': `2097152 ${TOPIC_CONFIG}`,
      'segment.bytes': `${topicConfigDefaults.segmentBytesMax} ${DEFAULT_CONFIG}`,
      'segment.ms': `${topicConfigDefaults.segmentAgeMsMax} ${DEFAULT_CONFIG}`,
      'message.timestamp.after.max.ms': `${longMax} ${TOPIC_CONFIG}`,
      'message.timestamp.before.max.ms': `${longMax} ${DEFAULT_CONFIG}`,
    });
    const stored = stack.broker.describeTopic(topic);
    assert.equal(stored.config.retentionMs, dayMs);
    assert.equal(stored.config.retentionBytes, null);
    assert.equal(stored.config.messageBytesMax, 2097152);
    assert.equal(stored.config.timestampAheadMsMax, null);
    assert.equal(stored.partitions.length, 2, 'Weir-only settings stay');

    // -1 keeps segments forever; the other configs go back to the broker's defaults.
    await alterTopicConfigs(admin, topic, { 'retention.ms': '-1' });
    assert.deepEqual(await describedConfigs(admin, topic, ['retention.ms', 'max.message.bytes', 'no.such.config']), {
      'retention.ms': `-1 ${TOPIC_CONFIG}`,
      'max.message.bytes': `${topicConfigDefaults.messageBytesMax} ${DEFAULT_CONFIG}`,
    });
    assert.equal(stack.broker.describeTopic(topic).config.retentionMs, null);

    // Any 64-bit value is taken: past 2^53 it means no bound, or the largest value Weir holds.
    await alterTopicConfigs(admin, topic, { 'retention.ms': longMax, 'retention.bytes': longMax, 'segment.ms': longMax });
    assert.deepEqual(await describedConfigs(admin, topic, ['retention.ms', 'retention.bytes', 'segment.ms']), {
      'retention.ms': `-1 ${TOPIC_CONFIG}`,
      'retention.bytes': `-1 ${DEFAULT_CONFIG}`,
      'segment.ms': `${Number.MAX_SAFE_INTEGER} ${TOPIC_CONFIG}`,
    });
    await rejectsWith(alterTopicConfigs(admin, topic, { 'segment.ms': '9223372036854775808' }), 'INVALID_CONFIG');
  });
});

test('createTopics with message.timestamp.before.max.ms bounds how old a produced record may be; describeConfigs reports it', { timeout: 30_000 }, async () => {
  const topic = 'dated-behind';
  await withAdmin(async (admin) => {
    await admin.createTopics({ topics: [{ topic, configEntries: [{ name: 'message.timestamp.before.max.ms', value: '60000' }] }] });
    assert.equal(stack.broker.describeTopic(topic).config.timestampBehindMsMax, 60_000);
    assert.deepEqual(await describedConfigs(admin, topic, ['message.timestamp.before.max.ms']), { 'message.timestamp.before.max.ms': `60000 ${TOPIC_CONFIG}` });

    const producer = kafka('dated-producer').producer();
    await producer.connect();
    try {
      await rejectsWith(producer.send({ topic, messages: [{ value: 'two minutes old', timestamp: String(Date.now() - 120_000) }] }), 'INVALID_TIMESTAMP');
      await producer.send({ topic, messages: [{ value: 'fresh' }] });
    } finally {
      await producer.disconnect();
    }
    assert.equal(stack.broker.describeTopic(topic).partitions[0]!.offsetEnd, 1n, 'only the fresh record is stored');

    // -1, like Long.MAX_VALUE, is no bound, described as Long.MAX_VALUE.
    await alterTopicConfigs(admin, topic, { 'message.timestamp.before.max.ms': '-1' });
    assert.equal(stack.broker.describeTopic(topic).config.timestampBehindMsMax, null);
    assert.deepEqual(await describedConfigs(admin, topic, ['message.timestamp.before.max.ms']), { 'message.timestamp.before.max.ms': `9223372036854775807 ${DEFAULT_CONFIG}` });
  });
});

test('alterConfigs and describeConfigs: unknown topics and configs, bad values and internal topics get specific errors and change nothing', { timeout: 30_000 }, async () => {
  const topic = 'guarded';
  await stack.broker.createTopic(topic, { retentionMs: dayMs, retentionBytes: 5 << 20 });
  const before = structuredClone(stack.broker.describeTopic(topic).config);
  await withAdmin(async (admin) => {
    await rejectsWith(alterTopicConfigs(admin, 'no-such-topic', { 'retention.ms': '1000' }), 'UNKNOWN_TOPIC_OR_PARTITION');
    await rejectsWith(alterTopicConfigs(admin, topic, { 'retention.ms': '7200000', 'cleanup.policy': 'compact' }), 'INVALID_CONFIG');
    await rejectsWith(alterTopicConfigs(admin, topic, { 'retention.ms': 'soon' }), 'INVALID_CONFIG');
    await rejectsWith(alterTopicConfigs(admin, topic, { 'retention.ms': '-2' }), 'INVALID_CONFIG');
    await rejectsWith(alterTopicConfigs(admin, topic, { 'segment.bytes': '100' }), 'INVALID_CONFIG');
    await rejectsWith(alterTopicConfigs(admin, topic, { 'segment.bytes': '100' }, true), 'INVALID_CONFIG');
    await alterTopicConfigs(admin, topic, { 'retention.ms': '7200000' }, true);
    await rejectsWith(alterTopicConfigs(admin, offsetsTopic, { 'retention.ms': '7200000' }), 'INVALID_TOPIC_EXCEPTION');
    await rejectsWith(describedConfigs(admin, 'no-such-topic'), 'UNKNOWN_TOPIC_OR_PARTITION');

    const internal = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: offsetsTopic }], includeSynonyms: false });
    assert.ok(internal.resources[0]!.configEntries.every((entry) => entry.readOnly));
    const brokers = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.BROKER, name: '1' }], includeSynonyms: false });
    assert.equal(brokers.resources[0]!.errorCode, 0);
    assert.deepEqual(brokers.resources[0]!.configEntries, []);
  });
  assert.deepEqual(stack.broker.describeTopic(topic).config, before);
  assert.equal(stack.broker.listTopics().some((entry) => entry.name === 'no-such-topic'), false);
});

test('raw client: refusals name what is wrong; repeated topics, other brokers and resource types are refused; CreateTopics refuses a null value', { timeout: 10_000 }, async () => {
  await stack.broker.createTopic('named', {});
  const client = await RawClient.open(stack.port);
  try {
    const altered = await client.call(m.alterConfigs, 1, {
      resources: [{ resourceType: configResourceTypes.TOPIC, resourceName: 'named', configs: [{ name: 'cleanup.policy', value: 'compact' }] }],
    });
    assert.equal(altered.responses[0]!.errorCode, kafkaErrors.INVALID_CONFIG);
    assert.match(altered.responses[0]!.errorMessage!, /cleanup\.policy is not supported/);
    const shrunk = await client.call(m.createPartitions, 1, { topics: [{ name: 'named', count: 1, assignments: null }], timeoutMs: 1000 });
    assert.equal(shrunk.results[0]!.errorCode, kafkaErrors.INVALID_PARTITIONS);
    assert.match(shrunk.results[0]!.errorMessage!, /already has 1 partitions/);
    const twice = await client.call(m.createPartitions, 0, {
      topics: [{ name: 'named', count: 2, assignments: null }, { name: 'named', count: 3, assignments: [] }],
      timeoutMs: 1000,
      validateOnly: false,
    });
    assert.deepEqual(twice.results.map((result) => result.errorCode), [kafkaErrors.INVALID_REQUEST, kafkaErrors.INVALID_REQUEST]);
    assert.equal(stack.broker.describeTopic('named').partitions.length, 1);
    const described = await client.call(m.describeConfigs, 1, {
      resources: [
        { resourceType: configResourceTypes.BROKER, resourceName: '7', configurationKeys: null },
        { resourceType: configResourceTypes.GROUP, resourceName: 'a-group', configurationKeys: null },
        { resourceType: configResourceTypes.BROKER, resourceName: '', configurationKeys: null },
      ],
      includeSynonyms: false,
    });
    assert.deepEqual(described.results.map((result) => result.errorCode), [kafkaErrors.INVALID_REQUEST, kafkaErrors.INVALID_REQUEST, 0]);
    assert.match(described.results[0]!.errorMessage!, /broker 7 is not this node/);
    const created = await client.call(m.createTopics, 3, {
      topics: [{ name: 'null-config', numPartitions: 1, replicationFactor: 1, configs: [{ name: 'retention.ms', value: null }] }],
      timeoutMs: 1000,
    });
    assert.equal(created.topics[0]!.errorCode, kafkaErrors.INVALID_CONFIG);
    assert.match(created.topics[0]!.errorMessage!, /retention\.ms needs a value/);
    // The broker's range checks come back in Kafka's config names, not Weir's field names.
    const tooSmall = await client.call(m.alterConfigs, 1, {
      resources: [{ resourceType: configResourceTypes.TOPIC, resourceName: 'named', configs: [{ name: 'segment.bytes', value: '100' }] }],
    });
    assert.equal(tooSmall.responses[0]!.errorCode, kafkaErrors.INVALID_CONFIG);
    assert.match(tooSmall.responses[0]!.errorMessage!, /^segment\.bytes=100 is invalid: expected an integer from \d+ to \d+$/);
    const relation = await client.call(m.createTopics, 3, {
      topics: [{ name: 'big-messages', numPartitions: 1, replicationFactor: 1, configs: [{ name: 'max.message.bytes', value: String(32 << 20) }, { name: 'segment.bytes', value: String(16 << 20) }] }],
      timeoutMs: 1000,
    });
    assert.equal(relation.topics[0]!.errorCode, kafkaErrors.INVALID_CONFIG);
    assert.match(relation.topics[0]!.errorMessage!, /^max\.message\.bytes=33554432 is invalid: must not exceed segment\.bytes \(16777216\)$/);
    // A bad partition count and manual assignments get the codes CreatePartitions gives them.
    const counts = await client.call(m.createTopics, 3, {
      topics: [
        { name: 'no-partitions', numPartitions: 0, replicationFactor: 1, configs: [] },
        { name: 'too-many', numPartitions: 10_001, replicationFactor: 1, configs: [] },
        { name: 'placed', numPartitions: -1, replicationFactor: -1, assignments: [{ partitionIndex: 0, brokerIds: [1] }], configs: [] },
      ],
      timeoutMs: 1000,
    });
    assert.deepEqual(counts.topics.map((topic) => topic.errorCode), [kafkaErrors.INVALID_PARTITIONS, kafkaErrors.INVALID_PARTITIONS, kafkaErrors.INVALID_REPLICA_ASSIGNMENT]);
    // A name given twice creates neither.
    const doubled = await client.call(m.createTopics, 3, {
      topics: [1, 2].map((numPartitions) => ({ name: 'doubled', numPartitions, replicationFactor: 1, configs: [] })),
      timeoutMs: 1000,
    });
    assert.deepEqual(doubled.topics.map((topic) => topic.errorCode), [kafkaErrors.INVALID_REQUEST, kafkaErrors.INVALID_REQUEST]);
    assert.throws(() => stack.broker.describeTopic('doubled'), (e) => isWeirError(e, 'UNKNOWN_TOPIC'));
    assert.match(counts.topics[1]!.errorMessage!, /partitions 10001 must be between 1 and 10000/);
    assert.equal(stack.broker.listTopics().some((entry) => ['no-partitions', 'too-many', 'placed'].includes(entry.name)), false);
  } finally {
    client.close();
  }
});

test('createTopics with validateOnly runs every check of a creation and creates nothing', { timeout: 30_000 }, async () => {
  await stack.broker.createTopic('taken', {});
  await withAdmin(async (admin) => {
    const created = await admin.createTopics({ validateOnly: true, waitForLeaders: false, topics: [{ topic: 'would-be', numPartitions: 3, configEntries: [{ name: 'retention.ms', value: '60000' }] }] });
    assert.equal(created, true);
    // kafkajs answers TOPIC_ALREADY_EXISTS with false rather than an error.
    assert.equal(await admin.createTopics({ validateOnly: true, waitForLeaders: false, topics: [{ topic: 'taken' }] }), false);
    await creationRejectsWith(admin.createTopics({ validateOnly: true, waitForLeaders: false, topics: [{ topic: 'would-be', configEntries: [{ name: 'segment.bytes', value: '100' }] }] }), 'INVALID_CONFIG');
    await creationRejectsWith(admin.createTopics({ validateOnly: true, waitForLeaders: false, topics: [{ topic: '__reserved' }] }), 'INVALID_TOPIC_EXCEPTION');
  });
  assert.equal(stack.broker.listTopics().some((entry) => entry.name === 'would-be'), false);
});

test('IncrementalAlterConfigs v0 and flexible v1: SET and DELETE change only what they name; bad operations change nothing', { timeout: 10_000 }, async () => {
  const topic = 'incremental';
  await stack.broker.createTopic(topic, { retentionBytes: 5 << 20 });
  const client = await RawClient.open(stack.port);
  const alter = async (version: number, configs: { name: string; configOperation: number; value: string | null }[], validateOnly = false) => {
    const body = await client.call(m.incrementalAlterConfigs, version, {
      resources: [{ resourceType: configResourceTypes.TOPIC, resourceName: topic, configs }],
      validateOnly,
    });
    assert.equal(body.responses.length, 1);
    assert.equal(body.responses[0]!.resourceName, topic);
    return body.responses[0]!;
  };
  const config = () => stack.broker.describeTopic(topic).config;
  const { SET, DELETE, APPEND, SUBTRACT } = configOperations;
  try {
    assert.equal((await alter(1, [{ name: 'retention.ms', configOperation: SET, value: String(dayMs) }, { name: 'segment.ms', configOperation: SET, value: String(hourMs) }])).errorCode, 0);
    assert.equal(config().retentionMs, dayMs);
    assert.equal(config().segmentAgeMsMax, hourMs);
    assert.equal(config().retentionBytes, 5 << 20, 'a config not named keeps its value');

    // DELETE returns to the broker's default (one hour here), not the built-in one.
    assert.equal((await alter(0, [{ name: 'retention.ms', configOperation: DELETE, value: null }])).errorCode, 0);
    assert.equal(config().retentionMs, hourMs);

    const before = structuredClone(config());
    const refused = [
      { configs: [{ name: 'segment.ms', configOperation: SET, value: '7200000' }, { name: 'retention.ms', configOperation: APPEND, value: '5' }], code: kafkaErrors.INVALID_CONFIG, message: /retention\.ms is not a list/ },
      { configs: [{ name: 'retention.bytes', configOperation: SUBTRACT, value: '5' }], code: kafkaErrors.INVALID_CONFIG, message: /not a list/ },
      { configs: [{ name: 'segment.ms', configOperation: SET, value: '7200000' }, { name: 'compression.type', configOperation: SET, value: 'zstd' }], code: kafkaErrors.INVALID_CONFIG, message: /compression\.type is not supported/ },
      { configs: [{ name: 'compression.type', configOperation: DELETE, value: null }], code: kafkaErrors.INVALID_CONFIG, message: /compression\.type/ },
      { configs: [{ name: 'segment.ms', configOperation: SET, value: null }], code: kafkaErrors.INVALID_CONFIG, message: /needs a value/ },
      { configs: [{ name: 'segment.ms', configOperation: SET, value: '7200000' }, { name: 'segment.ms', configOperation: DELETE, value: null }], code: kafkaErrors.INVALID_REQUEST, message: /more than once/ },
      { configs: [{ name: 'segment.ms', configOperation: 9, value: '7200000' }], code: kafkaErrors.INVALID_REQUEST, message: /operation 9/ },
    ];
    for (const [index, { configs, code, message }] of refused.entries()) {
      const answer = await alter(index % 2, configs);
      assert.equal(answer.errorCode, code, `case ${index}: ${answer.errorMessage}`);
      assert.match(answer.errorMessage ?? '', message);
    }
    assert.equal((await alter(1, [{ name: 'segment.ms', configOperation: SET, value: '7200000' }], true)).errorCode, 0);
    assert.deepEqual(config(), before);

    const others = await client.call(m.incrementalAlterConfigs, 1, {
      resources: [
        { resourceType: configResourceTypes.TOPIC, resourceName: 'no-such-topic', configs: [{ name: 'segment.ms', configOperation: SET, value: '7200000' }] },
        { resourceType: configResourceTypes.BROKER, resourceName: '1', configs: [] },
        { resourceType: configResourceTypes.TOPIC, resourceName: topic, configs: [] },
        { resourceType: configResourceTypes.TOPIC, resourceName: topic, configs: [{ name: 'segment.ms', configOperation: SET, value: '7200000' }] },
      ],
      validateOnly: false,
    });
    assert.deepEqual(others.responses.map((entry) => entry.errorCode), [
      kafkaErrors.UNKNOWN_TOPIC_OR_PARTITION,
      kafkaErrors.INVALID_REQUEST,
      kafkaErrors.INVALID_REQUEST,
      kafkaErrors.INVALID_REQUEST,
    ]);
    assert.deepEqual(config(), before);
  } finally {
    client.close();
  }
});

test('flexible versions: CreatePartitions v3, AlterConfigs v2, DescribeConfigs v4 with synonyms and documentation; v0 reports is_default', { timeout: 10_000 }, async () => {
  const topic = 'flexible';
  await stack.broker.createTopic(topic, { partitions: 1 });
  const client = await RawClient.open(stack.port);
  try {
    const versions = await client.call(m.apiVersions, 3, { clientSoftwareName: 'raw', clientSoftwareVersion: '1' });
    const advertised = (key: number) => versions.apiKeys.find((entry) => entry.apiKey === key)?.maxVersion;
    assert.deepEqual([32, 33, 37, 44].map(advertised), [4, 2, 3, 1]);

    const grown = await client.call(m.createPartitions, 3, { topics: [{ name: topic, count: 2, assignments: null }], timeoutMs: 1000, validateOnly: false });
    assert.deepEqual(grown.results, [{ name: topic, errorCode: 0, errorMessage: null }]);
    assert.equal(stack.broker.describeTopic(topic).partitions.length, 2);

    const altered = await client.call(m.alterConfigs, 2, {
      resources: [{ resourceType: configResourceTypes.TOPIC, resourceName: topic, configs: [{ name: 'segment.ms', value: String(hourMs) }] }],
      validateOnly: false,
    });
    assert.equal(altered.responses[0]!.errorCode, 0);

    const described = await client.call(m.describeConfigs, 4, {
      resources: [{ resourceType: configResourceTypes.TOPIC, resourceName: topic, configurationKeys: ['segment.ms', 'retention.ms'] }],
      includeSynonyms: true,
      includeDocumentation: true,
    });
    const [retention, segment] = described.results[0]!.configs;
    assert.equal(described.results[0]!.errorCode, 0);
    assert.deepEqual(
      { name: segment!.name, value: segment!.value, source: segment!.configSource, type: segment!.configType, synonyms: segment!.synonyms },
      { name: 'segment.ms', value: String(hourMs), source: TOPIC_CONFIG, type: configTypes.LONG, synonyms: [{ name: 'segment.ms', value: String(hourMs), source: TOPIC_CONFIG }] },
    );
    assert.match(segment!.documentation ?? '', /segment rolls/);
    assert.equal(retention!.name, 'retention.ms');
    assert.equal(retention!.configSource, STATIC_BROKER_CONFIG);

    // v0, and an empty key list, which lists every config as null does.
    const v0 = await client.call(m.describeConfigs, 0, { resources: [{ resourceType: configResourceTypes.TOPIC, resourceName: topic, configurationKeys: [] }] });
    const isDefault = Object.fromEntries(v0.results[0]!.configs.map((entry) => [entry.name, entry.isDefault]));
    assert.deepEqual(isDefault, { 'retention.ms': true, 'retention.bytes': true, 'max.message.bytes': true, 'segment.bytes': true, 'segment.ms': false, 'message.timestamp.after.max.ms': true, 'message.timestamp.before.max.ms': true });
  } finally {
    client.close();
  }
});

test('deleteGroups forgets a group and its offsets; a group with live members and an unknown one are refused by name', { timeout: 30_000 }, async () => {
  await stack.broker.createTopic('grouped');
  await stack.broker.commitOffsets({ groupId: 'finished' }, [{ topic: 'grouped', partition: 0, offset: 3n, metadata: null }]);
  const busy = await stack.broker.joinGroup({
    groupId: 'busy',
    memberId: '',
    clientId: 'test',
    clientHost: '127.0.0.1',
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 10_000,
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: Buffer.from('m') }],
  });
  await withAdmin(async (admin) => {
    assert.deepEqual(await admin.deleteGroups(['finished']), [{ groupId: 'finished', errorCode: 0 }]);
    assert.deepEqual(await stack.broker.fetchOffsets('finished', [{ topic: 'grouped', partition: 0 }]), [{ topic: 'grouped', partition: 0, offset: -1n, metadata: null }]);
    await assert.rejects(admin.deleteGroups(['busy', 'never-was']), (error: { groups?: { groupId: string; errorCode: number }[] }) => {
      assert.deepEqual(error.groups?.map(({ groupId, errorCode }) => [groupId, errorCode]), [
        ['busy', kafkaErrors.NON_EMPTY_GROUP],
        ['never-was', kafkaErrors.GROUP_ID_NOT_FOUND],
      ]);
      return true;
    });
    // Metadata for all topics lists the internal ones too, marked internal, as Kafka does.
    const { topics } = await admin.fetchTopicMetadata();
    assert.ok(topics.some((topic) => topic.name === offsetsTopic));
  });
  await stack.broker.leaveGroup('busy', busy.memberId);
});
