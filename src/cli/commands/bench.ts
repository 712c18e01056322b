/**
 * `weir bench`: produce-only, consume-only and end-to-end workloads against a running broker.
 * Prints each figure with the settings it was measured under, and last one JSON line with all
 * the figures (for scripts).
 */
import { randomBytes } from 'node:crypto';
import type { Client } from '../../client/index.js';
import { batchHeaderBytes, RecordBatchBuilder } from '../../format/record-batch.js';
import { WeirError } from '../../util/errors.js';
import { choiceOption, describeError, integerOption, optionalIntegerOption, parseCommandLine, serverOptionSpec, UsageError } from '../args.js';
import { connectBroker } from '../broker-client.js';
import { ConsumerSet } from '../bench/consume-workload.js';
import { formatLatency, LatencyRecorder, type LatencySummary } from '../bench/latency.js';
import { produceWorkloadDefaults, runProducers, type ProduceTally } from '../bench/produce-workload.js';
import { formatCount, Progress } from '../progress.js';
import { topicConfigFromFlags } from './topic.js';
import { toJson } from '../table.js';

export const benchUsage = `weir bench [options]     measure throughput and latency against a running broker
  --workload W              produce (default) | consume | e2e (produce and consume at once)
  --message-bytes N         value size (default 100; e2e needs at least 8)
  --count N                 messages to produce (default 1000000), or
  --duration-ms MS          produce for this long instead
  --partitions N            partitions of the fresh bench topic (default 1)
  --producers N             producer connections (default 1)
  --consumers N             consumer connections (default 1, at most one per partition; partitions are split among them)
  --acks none|leader        producer acknowledgements (default leader)
  --flush POLICY            flush policy of the fresh bench topic (default: the broker's, always)
  --window-bytes N          bytes each producer may have unacknowledged (default ${produceWorkloadDefaults.windowBytes})
  --topic NAME              use this topic (created if missing, kept) instead of a fresh one
  --keep-topic              do not delete the fresh bench topic afterwards
  --stall-ms MS             fail when nothing moves for this long (default 30000)
  --progress                report progress on stderr (default: only when stderr is a terminal)
  --server HOST:PORT        broker address (default: $WEIR_SERVER, else 127.0.0.1:7400)`;

type Workload = 'produce' | 'consume' | 'e2e';

interface BenchSettings {
  workload: Workload;
  topic: string;
  partitions: number;
  flush: string;
  messageBytes: number;
  count: number | null;
  durationMs: number | null;
  producers: number;
  consumers: number;
  acks: 'none' | 'leader';
  windowBytes: number;
  stallMs: number;
}

interface Figures {
  messages: number;
  seconds: number;
  messagesPerSecond: number;
  megabytesPerSecond: number;
  latency: LatencySummary | null;
}

export async function bench(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine({
    args: argv,
    options: {
      ...serverOptionSpec,
      workload: { type: 'string' },
      'message-bytes': { type: 'string' },
      count: { type: 'string' },
      'duration-ms': { type: 'string' },
      partitions: { type: 'string' },
      producers: { type: 'string' },
      consumers: { type: 'string' },
      acks: { type: 'string' },
      flush: { type: 'string' },
      'window-bytes': { type: 'string' },
      topic: { type: 'string' },
      'keep-topic': { type: 'boolean' },
      'stall-ms': { type: 'string' },
      progress: { type: 'boolean' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const workload = choiceOption('workload', values.workload, ['produce', 'consume', 'e2e'] as const, 'produce');
  const durationMs = optionalIntegerOption('duration-ms', values['duration-ms'], 1, 24 * 3_600_000) ?? null;
  if (durationMs !== null && values.count !== undefined) throw new UsageError('--count and --duration-ms exclude each other');
  const messageBytes = integerOption('message-bytes', values['message-bytes'], 100, workload === 'e2e' ? produceWorkloadDefaults.stampBytes : 0, 64 * 1024 * 1024);
  const config = topicConfigFromFlags({ partitions: values.partitions, flush: values.flush });
  const settings: BenchSettings = {
    workload,
    topic: values.topic ?? `bench-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`,
    partitions: config.partitions ?? 1,
    flush: values.flush ?? 'broker default',
    messageBytes,
    count: durationMs === null ? integerOption('count', values.count, 1_000_000, 1) : null,
    durationMs,
    producers: integerOption('producers', values.producers, 1, 1, 256),
    consumers: integerOption('consumers', values.consumers, 1, 1, 256),
    acks: choiceOption('acks', values.acks, ['none', 'leader'] as const, 'leader'),
    windowBytes: integerOption('window-bytes', values['window-bytes'], produceWorkloadDefaults.windowBytes, 1024),
    stallMs: integerOption('stall-ms', values['stall-ms'], 30_000, 100),
  };
  if (workload !== 'produce' && settings.acks === 'none' && settings.count === null) {
    throw new UsageError('--acks none with --duration-ms cannot tell consumers how many messages to expect; use --count');
  }

  const admin = await connectBroker(values.server, 'weir-bench');
  const clients: Client[] = [];
  const fresh = values.topic === undefined;
  const interrupts = watchInterrupts();
  try {
    await prepareTopic(admin, settings, config);
    settings.consumers = Math.min(settings.consumers, settings.partitions); // a partition is read by one of them
    const connections = Math.max(settings.producers, workload === 'produce' ? 0 : settings.consumers);
    for (let i = 0; i < connections; i++) clients.push(await connectBroker(values.server, `weir-bench-${i}`));
    const progress = new Progress(values.progress ?? false);
    const json = await runWorkload(settings, clients, progress, interrupts.interrupted);
    process.stdout.write(`${toJson(json)}\n`);
    await Promise.allSettled(clients.map((client) => client.close()));
    return 0;
  } catch (error) {
    if (!interrupts.happened) throw error;
    process.stderr.write(`weir bench: interrupted, no figures${fresh && !values['keep-topic'] ? `; deleting topic ${settings.topic}` : ''}\n`);
    return interruptedExitCode;
  } finally {
    // After a failure the clients are left to the process's exit: closing flushes their producers,
    // whose unacknowledged messages would hold it until their delivery timeout.
    if (fresh && !values['keep-topic']) await deleteBenchTopic(admin, settings.topic);
    interrupts.dispose();
    await admin.close();
  }
}

/** What a shell reports for a command ended by Ctrl-C (128 + SIGINT). */
const interruptedExitCode = 130;

/**
 * Ctrl-C or SIGTERM ends a run early: `interrupted` rejects, the producers stop offering and the
 * run's own topic is deleted as after a failure. A second Ctrl-C exits at once, leaving it.
 */
function watchInterrupts(): { interrupted: Promise<never>; readonly happened: boolean; dispose(): void } {
  let happened = false;
  let reject: (error: WeirError) => void = () => {};
  const interrupted = new Promise<never>((_, fail) => (reject = fail));
  interrupted.catch(() => {}); // raced where it matters; never an unhandled rejection
  const interrupt = (): void => {
    if (happened) process.exit(interruptedExitCode);
    happened = true;
    reject(new WeirError('CLOSED', 'interrupted'));
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  return {
    interrupted,
    get happened() {
      return happened;
    },
    dispose() {
      process.removeListener('SIGINT', interrupt);
      process.removeListener('SIGTERM', interrupt);
    },
  };
}

/** Deletes the run's own topic, waiting at most `topicDeleteWaitMs`: a broker that went away does not hold the command. */
async function deleteBenchTopic(admin: Client, topic: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new WeirError('TIMEOUT', `no answer within ${topicDeleteWaitMs} ms`)), topicDeleteWaitMs);
  });
  try {
    await Promise.race([admin.admin().deleteTopic(topic), late]);
  } catch (error) {
    process.stderr.write(`weir bench: could not delete topic ${topic}: ${describeError(error)}\n`);
  } finally {
    clearTimeout(timer);
  }
}

const topicDeleteWaitMs = 5_000;

async function prepareTopic(admin: Client, settings: BenchSettings, config: ReturnType<typeof topicConfigFromFlags>): Promise<void> {
  const description = await admin.admin().describeTopic(settings.topic).catch(async (error: unknown) => {
    if (!(error instanceof WeirError) || error.code !== 'UNKNOWN_TOPIC') throw error;
    return admin.admin().createTopic(settings.topic, config);
  });
  // Said before the run starts: the producers would each fail their first send with it.
  const messageBytesMax = description.config.messageBytesMax;
  const batchBytes = batchHeaderBytes + RecordBatchBuilder.recordSizeBytes({ value: Buffer.alloc(settings.messageBytes) });
  if (batchBytes > messageBytesMax) {
    throw new WeirError(
      'MESSAGE_TOO_LARGE',
      `--message-bytes ${settings.messageBytes} does not fit in a batch of topic ${settings.topic}: the batch would take ${batchBytes} bytes, its message-bytes-max is ${messageBytesMax}; give a smaller --message-bytes, or --topic a topic created with a larger --message-bytes-max`,
    );
  }
  settings.partitions = description.partitions.length;
  const flush = description.config.flush;
  settings.flush = flush.kind === 'interval' ? `interval:${flush.intervalMs}` : flush.kind;
}

async function runWorkload(settings: BenchSettings, clients: Client[], progress: Progress, interrupted: Promise<never>): Promise<unknown> {
  const producing: ProduceTally = { sent: 0, acknowledged: 0, failure: null, latency: new LatencyRecorder() };
  // An interruption stops the producers, which end once what they sent is settled (their flush),
  // so that no batch reaches the broker after the topic's deletion to create it again.
  void interrupted.catch((error: WeirError) => (producing.failure ??= error));
  const producerClients = clients.slice(0, settings.producers);
  const consumerClients = clients.slice(0, settings.consumers);
  const describeSettings = `${settings.messageBytes}-byte values, topic ${settings.topic} (${settings.partitions} partition${settings.partitions === 1 ? '' : 's'}, flush ${settings.flush})`;
  process.stdout.write(`weir bench: ${settings.workload} workload, ${describeSettings}\n`);
  const produceSettings = `${settings.producers} producer${settings.producers === 1 ? '' : 's'}, acks ${settings.acks}, window ${settings.windowBytes} bytes each`;
  const startedMs = performance.now();
  let consumers: ConsumerSet | null = null;
  progress.start(() => {
    const seconds = (performance.now() - startedMs) / 1000;
    const received = consumers === null ? '' : `, consumed ${formatCount(consumers.tally.received)}`;
    return `${seconds.toFixed(1)} s: sent ${formatCount(producing.sent)}, acknowledged ${formatCount(producing.acknowledged)}${received}`;
  });
  const stall = stallWatchdog(settings.stallMs, () => producing.acknowledged + (consumers?.tally.received ?? 0));
  /** Consumers are waited for until the interruption; producers end on their own (above). */
  const consuming = <T>(work: Promise<T>): Promise<T> => stall.race(Promise.race([work, interrupted]));
  const produceOptions = {
    topic: settings.topic,
    clients: producerClients,
    count: settings.count,
    deadlineMs: settings.durationMs === null ? Number.POSITIVE_INFINITY : performance.now() + settings.durationMs,
    messageBytes: settings.messageBytes,
    acks: settings.acks,
    windowBytes: settings.windowBytes,
    stampValues: settings.workload === 'e2e',
  };
  try {
    if (settings.workload === 'produce') {
      const produced = figures(await stall.race(runProducers(produceOptions, producing)), settings.messageBytes);
      progress.stop();
      report('produce', produced, produceSettings, 'send to acknowledgement');
      return { ...settings, produce: produced };
    }
    if (settings.workload === 'consume') {
      const prefill = figures(await stall.race(runProducers(produceOptions, producing)), settings.messageBytes);
      report('prefill (produce)', prefill, produceSettings, 'send to acknowledgement');
      consumers = new ConsumerSet({ topic: settings.topic, clients: consumerClients, partitions: settings.partitions, from: 'earliest', stampedValues: false });
      const consumeStartedMs = performance.now();
      await consuming(consumers.start());
      await consuming(consumers.until(producing.sent));
      const consumed = throughput(consumers.tally.received, consumers.tally.bytes, (performance.now() - consumeStartedMs) / 1000, null);
      progress.stop();
      report('consume', consumed, `${consumers.size} consumer${consumers.size === 1 ? '' : 's'}, reading from the earliest offset`, null);
      return { ...settings, prefill, consume: consumed };
    }
    consumers = new ConsumerSet({ topic: settings.topic, clients: consumerClients, partitions: settings.partitions, from: 'latest', stampedValues: true });
    await consuming(consumers.start());
    const e2eStartedMs = performance.now();
    const produced = figures(await stall.race(runProducers(produceOptions, producing)), settings.messageBytes);
    await consuming(consumers.until(producing.sent));
    const consumed = throughput(consumers.tally.received, consumers.tally.bytes, (performance.now() - e2eStartedMs) / 1000, consumers.tally.latency.summary());
    progress.stop();
    report('produce', produced, produceSettings, 'send to acknowledgement');
    report('end-to-end', consumed, `${consumers.size} consumer${consumers.size === 1 ? '' : 's'} reading while producing`, 'send to receive');
    return { ...settings, produce: produced, endToEnd: consumed };
  } finally {
    stall.stop();
    progress.stop();
    await consumers?.close();
  }
}

function figures(result: { messages: number; seconds: number; latency: LatencyRecorder }, messageBytes: number): Figures {
  return throughput(result.messages, result.messages * messageBytes, result.seconds, result.latency.summary());
}

function throughput(messages: number, bytes: number, seconds: number, latency: LatencySummary | null): Figures {
  const safeSeconds = Math.max(seconds, 1e-6);
  return {
    messages,
    seconds: Math.round(seconds * 1000) / 1000,
    messagesPerSecond: Math.round(messages / safeSeconds),
    megabytesPerSecond: Math.round((bytes / 1e6 / safeSeconds) * 100) / 100,
    latency,
  };
}

function report(label: string, f: Figures, settings: string, latencyKind: string | null): void {
  process.stdout.write(
    `${label}: ${formatCount(f.messages)} messages in ${f.seconds.toFixed(2)} s = ${formatCount(f.messagesPerSecond)} msg/s, ${f.megabytesPerSecond.toFixed(2)} MB/s of values  [${settings}]\n`,
  );
  if (latencyKind !== null) process.stdout.write(`${label} latency (${latencyKind}): ${formatLatency(f.latency)}\n`);
}

/** Rejects a race when the observed counter has not moved for `stallMs`. */
function stallWatchdog(stallMs: number, observe: () => number): { race<T>(work: Promise<T>): Promise<T>; stop(): void } {
  let fail: (error: WeirError) => void = () => {};
  const stalled = new Promise<never>((_, reject) => (fail = reject));
  stalled.catch(() => {});
  let seen = observe();
  let seenMs = performance.now();
  const timer = setInterval(() => {
    const now = observe();
    if (now !== seen) {
      seen = now;
      seenMs = performance.now();
    } else if (performance.now() - seenMs >= stallMs) {
      fail(new WeirError('TIMEOUT', `no message was acknowledged or received for ${stallMs} ms`));
    }
  }, Math.min(1_000, stallMs));
  timer.unref();
  return { race: (work) => Promise.race([work, stalled]), stop: () => clearInterval(timer) };
}
