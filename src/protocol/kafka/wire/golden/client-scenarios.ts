/**
 * Test support: drives the real clients — kcat (librdkafka 2.0.2) and kafkajs — through produce,
 * consume, consumer-group and admin calls against a Kafka endpoint on 127.0.0.1. Used to capture
 * golden request bytes (capture.ts) and to check, on every run, that the clients accept what
 * Weir's codec answers. Every step is bounded by a timeout.
 */
import { spawn } from 'node:child_process';
import kafkajs, { Kafka, logLevel } from 'kafkajs';

export const kcatBinary = process.env.KCAT ?? 'kcat';

export interface KcatResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs kcat with `args`, feeding `input` on stdin; kills it after `timeoutMs`. */
export function runKcat(args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<KcatResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(kcatBinary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 15_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}

/**
 * Whether kcat can run here. Tests skip without it on a developer's machine; under CI
 * (`CI` set), where `.ci/run` installs it, a missing kcat is an error, never a silent skip.
 */
export async function kcatAvailable(): Promise<boolean> {
  let available = false;
  try {
    available = (await runKcat(['-V'], { timeoutMs: 5000 })).code === 0;
  } catch {
    available = false;
  }
  if (!available && process.env['CI']) throw new Error('kcat is not installed, but CI must run the Kafka client tests (.ci/run installs it)');
  return available;
}

/** kcat: produce keyed records with a header, consume them, list metadata, join a group. */
export async function kcatScenario(port: number): Promise<string[]> {
  const broker = ['-b', `127.0.0.1:${port}`, '-X', 'socket.timeout.ms=5000'];
  const log: string[] = [];
  const produced = await runKcat([...broker, '-P', '-t', 'golden', '-p', '0', '-K', ':', '-H', 'trace=abc', '-X', 'linger.ms=200'], {
    input: 'k1:v1\nk2:v2\n',
  });
  log.push(`produce exit ${produced.code}`);
  const idempotent = await runKcat([...broker, '-P', '-t', 'golden', '-p', '0', '-X', 'enable.idempotence=true'], {
    input: 'v3\n',
  });
  log.push(`idempotent produce exit ${idempotent.code}`);
  const consumed = await runKcat([...broker, '-C', '-t', 'golden', '-p', '0', '-o', 'beginning', '-e', '-f', '%k=%s\n']);
  log.push(`consume exit ${consumed.code}: ${consumed.stdout.trim().replace(/\n/g, ' ')}`);
  const metadata = await runKcat([...broker, '-L']);
  log.push(`metadata exit ${metadata.code}`);
  const group = await runKcat([...broker, '-G', 'kcat-group', '-X', 'auto.offset.reset=earliest', '-e', '-f', '%s\n', 'golden'], {
    timeoutMs: 20_000,
  });
  log.push(`group exit ${group.code}: ${group.stdout.trim().replace(/\n/g, ' ')}`);
  return log;
}

/**
 * kafkajs: admin calls, a keyed producer with headers, an idempotent producer, a group consumer,
 * then growing the topic and changing and reading its configs.
 */
export async function kafkajsScenario(port: number): Promise<string[]> {
  const kafka = new Kafka({ clientId: 'golden', brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING, retry: { retries: 2 } });
  const log: string[] = [];
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic: 'kjs', numPartitions: 1 }], timeout: 5000 });
    log.push(`topics: ${(await admin.listTopics()).sort().join(',')}`);
    const offsets = await admin.fetchTopicOffsets('kjs');
    log.push(`offsets: ${offsets.map((entry) => `${entry.partition}:${entry.low}-${entry.high}`).join(',')}`);
  } finally {
    await admin.disconnect();
  }

  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic: 'kjs', messages: [{ key: 'k1', value: 'v1', headers: { trace: 'abc' } }, { key: 'k2', value: 'v2' }] });
  await producer.disconnect();

  const idempotent = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await idempotent.connect();
  await idempotent.send({ topic: 'kjs', messages: [{ value: 'v3' }] });
  await idempotent.disconnect();

  log.push(`consumed: ${(await consumeGroup(kafka, 'kjs-group', 'kjs', 3)).join(',')}`);

  const admin2 = kafka.admin();
  await admin2.connect();
  try {
    const groups = await admin2.listGroups();
    log.push(`groups: ${groups.groups.map((group) => group.groupId).join(',')}`);
    const described = await admin2.describeGroups(['kjs-group']);
    log.push(`described: ${described.groups.map((group) => `${group.groupId}/${group.state}`).join(',')}`);
    await admin2.createPartitions({ topicPartitions: [{ topic: 'kjs', count: 2 }] });
    const metadata = await admin2.fetchTopicMetadata({ topics: ['kjs'] });
    log.push(`partitions: ${metadata.topics[0]?.partitions.length ?? 0}`);
    const resource = { type: kafkajs.ConfigResourceTypes.TOPIC, name: 'kjs' };
    await admin2.alterConfigs({ validateOnly: false, resources: [{ ...resource, configEntries: [{ name: 'retention.ms', value: '3600000' }] }] });
    const configs = await admin2.describeConfigs({ resources: [{ ...resource, configNames: ['retention.ms'] }], includeSynonyms: false });
    log.push(`configs: ${configs.resources.flatMap((entry) => entry.configEntries.map((config) => `${config.configName}=${config.configValue}`)).join(',')}`);
    await admin2.deleteTopics({ topics: ['kjs'], timeout: 5000 });
  } finally {
    await admin2.disconnect();
  }
  return log;
}

/** Runs a kafkajs group consumer until it received `count` messages (or 15 s passed). */
async function consumeGroup(kafka: Kafka, groupId: string, topic: string, count: number): Promise<string[]> {
  const consumer = kafka.consumer({ groupId, heartbeatInterval: 100, maxWaitTimeInMs: 100 });
  const values: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    await consumer.run({
      eachMessage: async ({ message }) => {
        values.push(`${message.key?.toString() ?? ''}=${message.value?.toString() ?? ''}`);
        if (values.length >= count) done();
      },
    });
    const timer = setTimeout(done, 15_000);
    await finished;
    clearTimeout(timer);
    // Let a heartbeat and an offset commit go out.
    await new Promise((resolve) => setTimeout(resolve, 300));
  } finally {
    await consumer.disconnect();
  }
  return values;
}
