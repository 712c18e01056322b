/**
 * Real Kafka clients over real sockets against an in-process broker and the Kafka listener:
 * kcat (librdkafka 2.0.2) and kafkajs produce and consume with keys, headers and every
 * compression codec, across clients; consumer groups split partitions and resume from committed
 * offsets; admin calls create, list and inspect topics.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import kafkajs, { type Consumer, type EachMessagePayload } from 'kafkajs';
import { groupMembersMax } from '../../broker/group-coordinator.js';
import { compressionCodecs, type CompressionName } from '../../format/compression.js';
import { batchPositions, readBatchHeader } from '../../format/record-batch.js';
import { kcatAvailable, runKcat } from './wire/golden/client-scenarios.js';
import { registerKafkajsCodecs, startKafkaStack, type KafkaStack } from './kafka-test-stack.js';

const { CompressionTypes, Kafka, logLevel } = kafkajs;

let stack: KafkaStack;
let haveKcat = false;

before(async () => {
  registerKafkajsCodecs();
  stack = await startKafkaStack();
  haveKcat = await kcatAvailable();
  if (!haveKcat) assert.ok(process.env.CI === undefined, 'kcat is missing on CI (.ci/run installs it)');
});

after(async () => {
  await stack.close();
});

const codecNames = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const satisfies readonly CompressionName[];
const kafkajsCompression = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
} as const;

function kafka(clientId: string): InstanceType<typeof Kafka> {
  return new Kafka({ clientId, brokers: [stack.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 3, initialRetryTime: 100 } });
}

/** Compressible values, so that librdkafka keeps the compressed form. */
function valueOf(index: number): string {
  return `value-${index}-${'abcdefgh'.repeat(8)}`;
}

/** The codecs of the batches stored in a partition. */
async function storedCodecs(topic: string, partition = 0): Promise<number[]> {
  const [result] = await stack.broker.fetch({ partitions: [{ topic, partition, offset: 0n, bytesMax: 1 << 22 }], waitMs: 0 });
  assert.equal(result!.error, undefined);
  return [...batchPositions(result!.records)].map(({ position }) => readBatchHeader(result!.records, position).attributes & 0x07);
}

function kcatBroker(): string[] {
  return ['-b', stack.bootstrap, '-X', 'socket.timeout.ms=10000'];
}

async function kcatConsume(topic: string, count: number, format = '%k=%s|%h\n'): Promise<string[]> {
  const result = await runKcat([...kcatBroker(), '-C', '-t', topic, '-o', 'beginning', '-c', String(count), '-e', '-f', format], { timeoutMs: 20_000 });
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.split('\n').filter((line) => line !== '');
}

/** Runs a kafkajs consumer until `count` messages arrived; returns them in arrival order. */
async function kafkajsConsume(topic: string, count: number, groupId: string): Promise<string[]> {
  const consumer = kafka(`${groupId}-consumer`).consumer({ groupId, maxWaitTimeInMs: 200, heartbeatInterval: 300 });
  const seen: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await untilCount(consumer, count, ({ message }) => {
      const headers = Object.entries(message.headers ?? {}).map(([key, value]) => `${key}=${String(value)}`).join(',');
      seen.push(`${message.key?.toString() ?? ''}=${message.value?.toString() ?? ''}|${headers}`);
    }, () => seen.length);
  } finally {
    await consumer.disconnect();
  }
  return seen;
}

async function untilCount(consumer: Consumer, count: number, onMessage: (payload: EachMessagePayload) => void, progress: () => number): Promise<void> {
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  await consumer.run({
    eachMessage: async (payload) => {
      onMessage(payload);
      if (progress() >= count) done();
    },
  });
  const timeout = setTimeout(done, 25_000);
  await finished;
  clearTimeout(timeout);
}

for (const codec of codecNames) {
  test(`kcat produces with ${codec}; kcat and kafkajs consume keys, values and headers`, { timeout: 60_000 }, async (t) => {
    if (!haveKcat) return t.skip('kcat is not installed');
    const topic = `kcat-${codec}`;
    const input = Array.from({ length: 20 }, (_, index) => `key${index}:${valueOf(index)}`).join('\n') + '\n';
    const produced = await runKcat(
      [...kcatBroker(), '-P', '-t', topic, '-p', '0', '-K', ':', '-H', 'source=kcat', '-z', codec, '-X', 'linger.ms=100'],
      { input, timeoutMs: 20_000 },
    );
    assert.equal(produced.code, 0, produced.stderr);
    const codecs = await storedCodecs(topic);
    assert.ok(codecs.length >= 1);
    assert.ok(codecs.every((stored) => stored === compressionCodecs[codec]), `stored codecs ${codecs.join(',')}`);
    const expected = Array.from({ length: 20 }, (_, index) => `key${index}=${valueOf(index)}|source=kcat`);
    assert.deepEqual(await kcatConsume(topic, 20), expected);
    assert.deepEqual(await kafkajsConsume(topic, 20, `kjs-reads-${codec}`), expected);
  });

  test(`kafkajs produces with ${codec}; kcat and kafkajs consume`, { timeout: 60_000 }, async (t) => {
    const topic = `kafkajs-${codec}`;
    const producer = kafka('producer').producer();
    await producer.connect();
    try {
      await producer.send({
        topic,
        compression: kafkajsCompression[codec],
        messages: Array.from({ length: 20 }, (_, index) => ({ key: `key${index}`, value: valueOf(index), headers: { source: 'kafkajs' }, partition: 0 })),
      });
    } finally {
      await producer.disconnect();
    }
    assert.deepEqual(await storedCodecs(topic), [compressionCodecs[codec]]);
    const expected = Array.from({ length: 20 }, (_, index) => `key${index}=${valueOf(index)}|source=kafkajs`);
    assert.deepEqual(await kafkajsConsume(topic, 20, `kjs-own-${codec}`), expected);
    if (!haveKcat) return t.skip('kcat is not installed');
    assert.deepEqual(await kcatConsume(topic, 20), expected);
  });
}

test('admin: create, list, fetch topic offsets, delete', { timeout: 30_000 }, async () => {
  const admin = kafka('admin').admin();
  await admin.connect();
  try {
    assert.equal(await admin.createTopics({ topics: [{ topic: 'admin-topic', numPartitions: 3 }], waitForLeaders: true }), true);
    assert.equal(await admin.createTopics({ topics: [{ topic: 'admin-topic', numPartitions: 3 }] }), false);
    assert.ok((await admin.listTopics()).includes('admin-topic'));
    const producer = kafka('admin-producer').producer();
    await producer.connect();
    await producer.send({ topic: 'admin-topic', messages: [{ value: 'a', partition: 1 }, { value: 'b', partition: 1 }] });
    await producer.disconnect();
    const offsets = await admin.fetchTopicOffsets('admin-topic');
    assert.deepEqual(
      offsets.map((entry) => `${entry.partition}:${entry.low}-${entry.high}`).sort(),
      ['0:0-0', '1:0-2', '2:0-0'],
    );
    const metadata = await admin.fetchTopicMetadata({ topics: ['admin-topic'] });
    assert.equal(metadata.topics[0]!.partitions.length, 3);
    await assert.rejects(
      admin.createTopics({ topics: [{ topic: 'replicated', numPartitions: 1, replicationFactor: 3 }] }),
      (error: { errors?: { type?: string }[] }) => error.errors?.[0]?.type === 'INVALID_REPLICATION_FACTOR',
    );
    await admin.deleteTopics({ topics: ['admin-topic'] });
    assert.ok(!(await admin.listTopics()).includes('admin-topic'));
  } finally {
    await admin.disconnect();
  }
});

test('a kafkajs producer with auto-creation off does not bring back a topic deleted under it', { timeout: 30_000 }, async () => {
  const admin = kafka('deleted-admin').admin();
  await admin.connect();
  // Metadata is not refreshed between the sends: the second Produce names the deleted topic.
  const producer = kafka('deleted-producer').producer({ allowAutoTopicCreation: false, metadataMaxAge: 300_000 });
  await producer.connect();
  try {
    await admin.createTopics({ topics: [{ topic: 'deleted-under-producer', numPartitions: 1 }] });
    await producer.send({ topic: 'deleted-under-producer', messages: [{ value: 'kept' }] });
    await admin.deleteTopics({ topics: ['deleted-under-producer'] });
    await assert.rejects(producer.send({ topic: 'deleted-under-producer', messages: [{ value: 'refused' }] }));
    assert.ok(!(await admin.listTopics()).includes('deleted-under-producer'), 'the Produce created the topic again');
  } finally {
    await producer.disconnect();
    await admin.disconnect();
  }
});

test('a kafkajs group of two members splits the partitions and consumes each message once', { timeout: 60_000 }, async () => {
  const topic = 'group-split';
  await stack.broker.createTopic(topic, { partitions: 4 });
  const producer = kafka('split-producer').producer();
  await producer.connect();
  await producer.send({ topic, messages: Array.from({ length: 40 }, (_, index) => ({ value: `m${index}`, partition: index % 4 })) });
  await producer.disconnect();

  const received = new Map<string, Set<number>>();
  const values: string[] = [];
  const consumers = ['a', 'b'].map((name) => {
    received.set(name, new Set());
    return { name, consumer: kafka(`split-${name}`).consumer({ groupId: 'split-group', maxWaitTimeInMs: 200, heartbeatInterval: 200, sessionTimeout: 10_000, rebalanceTimeout: 10_000 }) };
  });
  const assignments = new Map<string, number[]>();
  try {
    for (const { name, consumer } of consumers) {
      consumer.on(consumer.events.GROUP_JOIN, (event) => {
        assignments.set(name, [...(event.payload.memberAssignment[topic] ?? [])].sort());
      });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
    }
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    const both = () => assignments.get('a')?.length === 2 && assignments.get('b')?.length === 2;
    for (const { name, consumer } of consumers) {
      await consumer.run({
        eachMessage: async ({ partition, message }) => {
          received.get(name)!.add(partition);
          values.push(message.value!.toString());
          if (new Set(values).size >= 40 && both()) done();
        },
      });
    }
    const timeout = setTimeout(done, 40_000);
    await finished;
    clearTimeout(timeout);
  } finally {
    await Promise.all(consumers.map(({ consumer }) => consumer.disconnect()));
  }
  assert.equal(new Set(values).size, 40);
  const a = assignments.get('a') ?? [];
  const b = assignments.get('b') ?? [];
  assert.equal(a.length, 2, `a has ${a.join(',')}`);
  assert.equal(b.length, 2, `b has ${b.join(',')}`);
  assert.deepEqual([...a, ...b].sort(), [0, 1, 2, 3]);
});

test('kafkajs describeGroups: each member carries its subscription and assignment, and AssignerProtocol decodes both', { timeout: 60_000 }, async () => {
  const topic = 'described-members';
  await stack.broker.createTopic(topic, { partitions: 2 });
  const consumer = kafka('described').consumer({ groupId: 'described-group', maxWaitTimeInMs: 200, heartbeatInterval: 200 });
  const admin = kafka('described-admin').admin();
  let joined!: () => void;
  const join = new Promise<void>((resolve) => (joined = resolve));
  consumer.on(consumer.events.GROUP_JOIN, () => joined());
  await admin.connect();
  await consumer.connect();
  try {
    await consumer.subscribe({ topic });
    await consumer.run({ eachMessage: async () => {} });
    await join;
    const { groups } = await admin.describeGroups(['described-group']);
    const [member, ...others] = groups[0]!.members;
    assert.equal(others.length, 0);
    assert.equal(groups[0]!.protocol, 'RoundRobinAssigner');
    // The subscription kafkajs sent in its JoinGroup, for the chosen protocol (RoundRobinAssigner v1).
    const metadata = kafkajs.AssignerProtocol.MemberMetadata.decode(member!.memberMetadata);
    assert.deepEqual(metadata?.topics, [topic]);
    const assignment = kafkajs.AssignerProtocol.MemberAssignment.decode(member!.memberAssignment);
    assert.deepEqual(assignment?.assignment, { [topic]: [0, 1] });
  } finally {
    await consumer.disconnect();
    await admin.disconnect();
  }
});

test('a kafkajs consumer with minBytes 0 gets its fetches answered at once, not after maxWaitTimeInMs', { timeout: 60_000 }, async () => {
  const topic = 'min-bytes-zero';
  await stack.broker.createTopic(topic, { partitions: 1 });
  const waitMs = 10_000;
  const consumer = kafka('min-bytes-zero').consumer({ groupId: 'min-bytes-zero-group', minBytes: 0, maxWaitTimeInMs: waitMs, heartbeatInterval: 300 });
  // The topic stays empty: with min bytes 0 every fetch comes back at once, empty.
  const durationsMs: number[] = [];
  let enough!: () => void;
  const fetched = new Promise<void>((resolve) => (enough = resolve));
  consumer.on(consumer.events.FETCH, (event) => {
    durationsMs.push(event.payload.duration);
    if (durationsMs.length >= 3) enough();
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async () => {} });
    // Well below maxWaitTimeInMs: a broker that long-polls has not answered the first fetch yet.
    const deadline = setTimeout(enough, waitMs / 2);
    await fetched;
    clearTimeout(deadline);
  } finally {
    await consumer.disconnect();
  }
  assert.ok(durationsMs.length >= 3, `only ${durationsMs.length} fetches answered in ${waitMs / 2} ms`);
  for (const durationMs of durationsMs.slice(0, 3)) assert.ok(durationMs < waitMs / 4, `a fetch took ${durationMs} ms`);
});

test('a kafkajs consumer joining a group at its member cap gets GROUP_MAX_SIZE_REACHED', { timeout: 60_000 }, async () => {
  const topic = 'full-group';
  const groupId = 'full-group-members';
  await stack.broker.createTopic(topic, { partitions: 1 });
  // Fill the group in process: the joins wait for a rebalance that outlasts the test (a minute).
  const fillers: Promise<unknown>[] = [];
  for (let index = 0; index < groupMembersMax; index++) {
    const join = stack.broker.joinGroup({
      groupId,
      memberId: '',
      clientId: 'filler',
      clientHost: '127.0.0.1',
      sessionTimeoutMs: 60_000,
      rebalanceTimeoutMs: 60_000,
      protocolType: 'consumer',
      protocols: [{ name: 'RoundRobinAssigner', metadata: Buffer.alloc(0) }],
    });
    fillers.push(join.catch(() => undefined)); // settled when the broker closes
  }
  assert.equal(stack.broker.describeGroup(groupId).members.length, groupMembersMax);
  const consumer = kafka('full-group').consumer({ groupId, retry: { retries: 0, restartOnFailure: async () => false } });
  let crashed!: (error: { type?: string }) => void;
  const crash = new Promise<{ type?: string }>((resolve) => (crashed = resolve));
  consumer.on(consumer.events.CRASH, (event) => crashed(event.payload.error as { type?: string }));
  await consumer.connect();
  try {
    await consumer.subscribe({ topic });
    await consumer.run({ eachMessage: async () => {} });
    const error = await crash;
    assert.equal(error.type, 'GROUP_MAX_SIZE_REACHED');
  } finally {
    await consumer.disconnect();
  }
  assert.equal(stack.broker.describeGroup(groupId).members.length, groupMembersMax, 'the refused member was not added');
});

test('a kafkajs consumer resumes from the offsets its group committed', { timeout: 60_000 }, async () => {
  const topic = 'resume';
  const producer = kafka('resume-producer').producer();
  await producer.connect();
  await producer.send({ topic, messages: ['r0', 'r1', 'r2'].map((value) => ({ value, partition: 0 })) });
  assert.deepEqual((await kafkajsConsume(topic, 3, 'resume-group')).map((line) => line.split('|')[0]), ['=r0', '=r1', '=r2']);
  const committed = await stack.broker.fetchOffsets('resume-group', [{ topic, partition: 0 }]);
  assert.equal(committed[0]!.offset, 3n);
  await producer.send({ topic, messages: ['r3', 'r4'].map((value) => ({ value, partition: 0 })) });
  await producer.disconnect();
  assert.deepEqual((await kafkajsConsume(topic, 2, 'resume-group')).map((line) => line.split('|')[0]), ['=r3', '=r4']);
});

test('kafkajs admin setOffsets and resetOffsets move a group; its consumer starts where they put it', { timeout: 90_000 }, async () => {
  const topic = 'rewind';
  const producer = kafka('rewind-producer').producer();
  await producer.connect();
  await producer.send({ topic, messages: ['w0', 'w1', 'w2', 'w3', 'w4'].map((value) => ({ value, partition: 0 })) });
  await producer.disconnect();
  const admin = kafka('rewind-admin').admin();
  await admin.connect();
  try {
    await admin.setOffsets({ groupId: 'rewind-group', topic, partitions: [{ partition: 0, offset: '3' }] });
    assert.equal((await stack.broker.fetchOffsets('rewind-group', [{ topic, partition: 0 }]))[0]!.offset, 3n);
    assert.deepEqual((await kafkajsConsume(topic, 2, 'rewind-group')).map((line) => line.split('|')[0]), ['=w3', '=w4']);
    // kafkajs commits -2 for "earliest"; its consumers take any negative offset as "no position".
    await admin.resetOffsets({ groupId: 'rewind-group', topic, earliest: true });
    assert.equal((await stack.broker.fetchOffsets('rewind-group', [{ topic, partition: 0 }]))[0]!.offset, -2n);
    assert.deepEqual((await kafkajsConsume(topic, 5, 'rewind-group')).map((line) => line.split('|')[0]), ['=w0', '=w1', '=w2', '=w3', '=w4']);
  } finally {
    await admin.disconnect();
  }
});

test('kcat consumes in a group, commits, and a second run resumes', { timeout: 60_000 }, async (t) => {
  if (!haveKcat) return t.skip('kcat is not installed');
  const topic = 'kcat-group-topic';
  const produce = (values: string[]) => runKcat([...kcatBroker(), '-P', '-t', topic, '-p', '0'], { input: values.join('\n') + '\n' });
  assert.equal((await produce(['g0', 'g1', 'g2'])).code, 0);
  const consume = () => runKcat(
    [...kcatBroker(), '-G', 'kcat-group', '-X', 'auto.offset.reset=earliest', '-X', 'enable.auto.commit=true', '-X', 'auto.commit.interval.ms=100', '-e', '-f', '%s\n', topic],
    { timeoutMs: 30_000 },
  );
  const first = await consume();
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(first.stdout.trim().split('\n'), ['g0', 'g1', 'g2']);
  const committed = await stack.broker.fetchOffsets('kcat-group', [{ topic, partition: 0 }]);
  assert.equal(committed[0]!.offset, 3n);
  assert.equal((await produce(['g3'])).code, 0);
  const second = await consume();
  assert.equal(second.code, 0, second.stderr);
  assert.deepEqual(second.stdout.trim().split('\n'), ['g3']);
});

test('a kcat static member (group.instance.id) that restarts gets its partitions back at once, not after the session timeout', { timeout: 60_000 }, async (t) => {
  if (!haveKcat) return t.skip('kcat is not installed');
  const topic = 'kcat-static-topic';
  assert.equal((await runKcat([...kcatBroker(), '-P', '-t', topic, '-p', '0'], { input: 's0\ns1\n' })).code, 0);
  // librdkafka sends no LeaveGroup for a static member: the member stays until its session times out.
  const consume = () => runKcat(
    [...kcatBroker(), '-G', 'kcat-static', '-X', 'group.instance.id=instance-1', '-X', 'session.timeout.ms=30000', '-X', 'auto.offset.reset=earliest', '-e', '-f', '%s\n', topic],
    { timeoutMs: 25_000 },
  );
  const first = await consume();
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(first.stdout.trim().split('\n'), ['s0', 's1']);
  assert.equal(stack.broker.describeGroup('kcat-static').members.length, 1, 'the static member outlives its process');
  const started = Date.now();
  const second = await consume();
  assert.equal(second.code, 0, second.stderr);
  assert.ok(Date.now() - started < 15_000, `the restarted member was assigned at once (${Date.now() - started} ms; the session timeout is 30 s)`);
  assert.deepEqual(stack.broker.describeGroup('kcat-static').members.map((m) => m.groupInstanceId), ['instance-1']);
});

test('kcat lists metadata with this node as leader', { timeout: 30_000 }, async (t) => {
  if (!haveKcat) return t.skip('kcat is not installed');
  await stack.broker.createTopic('listed', { partitions: 2 });
  const result = await runKcat([...kcatBroker(), '-L', '-t', 'listed']);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, new RegExp(`broker 1 at 127\\.0\\.0\\.1:${stack.port}`));
  assert.match(result.stdout, /topic "listed" with 2 partitions/);
  assert.match(result.stdout, /partition 1, leader 1, replicas: 1, isrs: 1/);
});

test('idempotent producers: kafkajs and kcat get a producer id and their batches carry it', { timeout: 30_000 }, async (t) => {
  const topic = 'idempotent';
  const producer = kafka('idempotent').producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  await producer.send({ topic, messages: [{ value: 'i0', partition: 0 }, { value: 'i1', partition: 0 }] });
  await producer.send({ topic, messages: [{ value: 'i2', partition: 0 }] });
  await producer.disconnect();
  const [result] = await stack.broker.fetch({ partitions: [{ topic, partition: 0, offset: 0n, bytesMax: 1 << 20 }], waitMs: 0 });
  const headers = [...batchPositions(result!.records)].map(({ position }) => readBatchHeader(result!.records, position));
  assert.equal(headers.length, 2);
  assert.ok(headers.every((header) => header.producerId >= 0n && header.producerId === headers[0]!.producerId));
  assert.deepEqual(headers.map((header) => header.baseSequence), [0, 2]);
  if (!haveKcat) return t.skip('kcat is not installed');
  const produced = await runKcat([...kcatBroker(), '-P', '-t', topic, '-p', '0', '-X', 'enable.idempotence=true'], { input: 'i3\n' });
  assert.equal(produced.code, 0, produced.stderr);
  assert.deepEqual(await kcatConsume(topic, 4, '%s\n'), ['i0', 'i1', 'i2', 'i3']);
});

test('a kafkajs transactional producer fails at once with TRANSACTIONAL_ID_AUTHORIZATION_FAILED, without retrying', { timeout: 30_000 }, async () => {
  // A retry would wait at least 1,600 ms (2,000 ms less kafkajs's 20% jitter).
  const producer = kafka('transactional').producer({ transactionalId: 'tx-app', idempotent: true, maxInFlightRequests: 1, retry: { retries: 5, initialRetryTime: 2000 } });
  await producer.connect();
  try {
    const started = Date.now();
    await assert.rejects(producer.transaction(), (error: Error & { type?: string }) => {
      assert.equal(error.type, 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED', String(error));
      return true;
    });
    const elapsedMs = Date.now() - started;
    assert.ok(elapsedMs < 1500, `failed after ${elapsedMs} ms`);
  } finally {
    await producer.disconnect();
  }
});

test('a kcat transactional producer fails at once with a fatal TRANSACTIONAL_ID_AUTHORIZATION_FAILED and stores nothing', { timeout: 30_000 }, async (t) => {
  if (!haveKcat) return t.skip('kcat is not installed');
  const topic = 'kcat-transactional';
  await stack.broker.createTopic(topic);
  // A retried refusal would run until init_transactions() gives up at transaction.timeout.ms.
  const started = Date.now();
  const produced = await runKcat([...kcatBroker(), '-P', '-t', topic, '-X', 'transactional.id=tx-kcat', '-X', 'transaction.timeout.ms=20000'], { input: 'never\n' });
  const elapsedMs = Date.now() - started;
  assert.notEqual(produced.code, 0);
  assert.match(produced.stderr, /init_transactions\(\).*Transactional Id authorization failed/);
  assert.ok(elapsedMs < 10_000, `failed after ${elapsedMs} ms`);
  assert.equal(stack.broker.describeTopic(topic).partitions[0]!.offsetEnd, 0n);
});

test('kcat starts from a timestamp (ListOffsets by time)', { timeout: 30_000 }, async (t) => {
  if (!haveKcat) return t.skip('kcat is not installed');
  const topic = 'by-time';
  const producer = kafka('by-time').producer();
  await producer.connect();
  await producer.send({ topic, messages: [{ value: 'old', partition: 0, timestamp: '1000000' }] });
  await producer.send({ topic, messages: [{ value: 'new', partition: 0, timestamp: '2000000' }] });
  await producer.disconnect();
  const result = await runKcat([...kcatBroker(), '-C', '-t', topic, '-p', '0', '-o', 's@1500000', '-e', '-f', '%s\n'], { timeoutMs: 20_000 });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.stdout.trim().split('\n'), ['new']);
});

test('kcat pipelines 100,000 keyed messages over 3 partitions; every key stays in order', { timeout: 90_000 }, async (t) => {
  if (!haveKcat) return t.skip('kcat is not installed');
  const topic = 'volume';
  await stack.broker.createTopic(topic, { partitions: 3 });
  const count = 100_000;
  const input = Array.from({ length: count }, (_, index) => `k${index % 101}:${index}`).join('\n') + '\n';
  const produced = await runKcat([...kcatBroker(), '-P', '-t', topic, '-K', ':', '-X', 'batch.size=16384'], { input, timeoutMs: 60_000 });
  assert.equal(produced.code, 0, produced.stderr);
  const ends = stack.broker.describeTopic(topic).partitions.map((partition) => Number(partition.offsetEnd));
  assert.equal(ends.reduce((sum, end) => sum + end, 0), count);
  assert.ok(ends.every((end) => end > 0), `partition ends ${ends.join(',')}`);
  const lastByKey = new Map<string, number>();
  let seen = 0;
  for (let partition = 0; partition < 3; partition++) {
    const result = await runKcat([...kcatBroker(), '-C', '-t', topic, '-p', String(partition), '-o', 'beginning', '-e', '-f', '%k %s\n'], { timeoutMs: 60_000 });
    assert.equal(result.code, 0, result.stderr);
    for (const line of result.stdout.split('\n')) {
      if (line === '') continue;
      const [key, value] = line.split(' ');
      const previous = lastByKey.get(key!) ?? -1;
      assert.ok(Number(value) > previous, `${key}: ${value} after ${previous}`);
      lastByKey.set(key!, Number(value));
      seen++;
    }
  }
  assert.equal(seen, count);
});
