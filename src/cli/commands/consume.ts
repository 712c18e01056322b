/**
 * `weir consume TOPIC`: prints messages, one per line. As a group member (--group) it resumes
 * from the group's committed offsets and commits what it printed, up to the last line written to
 * stdout (handed to the operating system), every 5 s and when it stops (after --count messages,
 * on Ctrl-C, or when stdout closes); a line lost to a closed stdout is not committed. From a
 * queue subscription (--subscription) it competes with the subscription's other consumers and
 * acknowledges each message once its line is written to stdout (handed to the operating system);
 * a line lost to a closed stdout is not.
 */
import {
  consumerDefaults,
  queueConsumerDefaults,
  type Client,
  type ConsumerMessage,
  type CommitOffset,
  type Consumer,
  type ConsumerOptions,
  type QueueMessage,
} from '../../client/index.js';
import { wasUnanswered } from '../../client/connection.js';
import { waitAtMost } from '../../client/backoff.js';
import { errorCodeFromWire, isWeirError, WeirError } from '../../util/errors.js';
import { choiceOption, describeError, integerOption, optionalIntegerOption, parseCommandLine, positionalArguments, serverOptionSpec, startPositionOption, UsageError } from '../args.js';
import { connectBroker, reportDisconnects } from '../broker-client.js';
import { LineOutput, type WrittenListener } from '../output.js';
import { toJson } from '../table.js';

export const consumeUsage = `weir consume TOPIC [options]     print messages, one per line
  --type stream|queue       stream (default): read the log, optionally as a group member;
                            queue (the default with --subscription): compete for a queue
                            subscription's messages, each acknowledged once written to stdout
  --group G                 stream: consume as a member of group G (resumes from its committed offsets, commits)
  --from POSITION           stream: earliest | latest (default) | OFFSET | ISO-8601 time, where to start
                            when the group has no committed offset
  --partition N             stream: read only partition N (with --group: commits under G without membership)
  --subscription NAME       queue: the queue subscription (create it with weir subscription create)
  --prefetch N              queue: unacknowledged messages held at most (default 1000; never more than --count)
  --rate N                  queue: the broker sends at most N messages per second to this consumer
  --no-ack                  queue: print without acknowledging; the messages stay leased until the
                            command exits, then the broker takes them back as a failed delivery
  --count N                 exit after exactly N messages
  --timeout-ms MS           exit when no message arrives for MS
  --print-key               print the key before the value
  --print-headers           print the headers (k=v,k=v) before the value
  --print-offset            print partition:offset first
  --separator SEP           between printed fields (default a tab)
  --json                    one JSON object per line: topic, partition, offset, timestamp, key, value, headers
                            (and deliveryCount from a queue subscription)
  --mode pull|push          how messages are fetched: long polls (default) or broker push with credits
  --server HOST:PORT        broker address (default: $WEIR_SERVER, else 127.0.0.1:7400)`;

interface PrintOptions {
  json: boolean;
  key: boolean;
  headers: boolean;
  offset: boolean;
  separator: string;
}

/** What every consume run shares: where it prints, when it stops. */
interface RunOptions {
  server: string | undefined;
  print: PrintOptions;
  count: number | undefined;
  timeoutMs: number | undefined;
}

const optionSpec = {
  ...serverOptionSpec,
  type: { type: 'string' },
  group: { type: 'string' },
  from: { type: 'string' },
  partition: { type: 'string' },
  subscription: { type: 'string' },
  prefetch: { type: 'string' },
  rate: { type: 'string' },
  'no-ack': { type: 'boolean' },
  count: { type: 'string' },
  'timeout-ms': { type: 'string' },
  'print-key': { type: 'boolean' },
  'print-headers': { type: 'boolean' },
  'print-offset': { type: 'boolean' },
  separator: { type: 'string' },
  json: { type: 'boolean' },
  mode: { type: 'string' },
} as const;

const parseFlags = (argv: string[]) => parseCommandLine({ args: argv, options: optionSpec, allowPositionals: true, strict: true });
type Flags = ReturnType<typeof parseFlags>['values'];

const streamOnlyFlags = ['group', 'from', 'partition'] as const;
const queueOnlyFlags = ['subscription', 'prefetch', 'rate', 'no-ack'] as const;

export async function consume(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv);
  const [topic] = positionalArguments(positionals, ['TOPIC']);
  const type = choiceOption('type', values.type, ['stream', 'queue'] as const, values.subscription === undefined ? 'stream' : 'queue');
  for (const flag of type === 'queue' ? streamOnlyFlags : queueOnlyFlags) {
    if (values[flag] !== undefined) throw new UsageError(`--${flag} is for --type ${type === 'queue' ? 'stream' : 'queue'}`);
  }
  const run: RunOptions = {
    server: values.server,
    count: optionalIntegerOption('count', values.count, 1),
    timeoutMs: optionalIntegerOption('timeout-ms', values['timeout-ms'], 1),
    print: {
      json: values.json ?? false,
      key: values['print-key'] ?? false,
      headers: values['print-headers'] ?? false,
      offset: values['print-offset'] ?? false,
      separator: values.separator ?? '\t',
    },
  };
  return type === 'queue' ? consumeQueue(topic!, values, run) : consumeStream(topic!, values, run);
}

async function consumeStream(topic: string, values: Flags, run: RunOptions): Promise<number> {
  const partition = optionalIntegerOption('partition', values.partition, 0, 2 ** 31 - 1);
  const options: ConsumerOptions = {
    groupId: values.group,
    from: startPositionOption(values.from) ?? 'latest',
    mode: choiceOption('mode', values.mode, ['push', 'pull'] as const, 'pull'),
  };
  if (values.group === '') throw new UsageError('--group must not be empty');
  if (partition !== undefined) options.partitions = [{ topic, partition }];
  else options.topics = [topic];
  if (run.count !== undefined) options.prefetchMessages = Math.min(run.count, consumerDefaults.prefetchMessages);

  // A group commits what stdout took (WrittenOffsets), not what the loop took.
  if (values.group !== undefined) options.autoCommit = false;

  const client = await connectBroker(run.server, 'weir-consume');
  const stopReporting = reportDisconnects(client, 'consume');
  const consumer = client.consumer(options);
  const output = new LineOutput();
  const committer = values.group === undefined ? null : new WrittenOffsets(consumer, values.group);
  // A final commit the broker refused (DISK_FULL, UNKNOWN_MEMBER, …) fails the command, unless the
  // loop failed first (its error is the one reported).
  let refused: unknown;
  // The writes complete first, then what they wrote is committed, then the consumer leaves.
  let closing: Promise<void> | null = null;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await output.end();
      refused = await committer?.finish();
      await consumer.close().catch((error: unknown) => void (refused ??= error));
    })());
  const stops = watchStops(() => void close(), output, run.timeoutMs);
  let printed = 0;
  try {
    // Each break closes first: leaving the loop would close the consumer before the final commit.
    for await (const message of consumer) {
      if (output.closed) {
        await close();
        break;
      }
      if (committer === null) output.line(formatMessage(message, run.print));
      else output.line(formatMessage(message, run.print), committer.written, message);
      stops.received();
      if (++printed === run.count) {
        await close();
        break;
      }
      if (process.stdout.writableNeedDrain) await output.drained();
    }
  } finally {
    stops.dispose();
    await close();
    stopReporting();
    await client.close();
  }
  if (refused !== undefined) throw refused;
  return 0;
}

/**
 * A group's commit point: per partition, the offset after the last message whose line stdout
 * took (the write's callback succeeded). A line lost to a closed stdout (EPIPE) is not committed:
 * the group reads it again. Committed every `autoCommitIntervalMs` and when the command stops.
 */
class WrittenOffsets {
  readonly #consumer: Consumer;
  readonly #groupId: string;
  readonly #next = new Map<string, CommitOffset>();
  readonly #timer: NodeJS.Timeout;
  #committing: Promise<void> = Promise.resolve();

  constructor(consumer: Consumer, groupId: string) {
    this.#consumer = consumer;
    this.#groupId = groupId;
    this.#timer = setInterval(() => void this.#commit().catch(() => {}), consumerDefaults.autoCommitIntervalMs);
    this.#timer.unref();
  }

  /** The listener of every printed line (one function: no closure per message). */
  readonly written: WrittenListener<ConsumerMessage> = (handed, message) => {
    if (!handed) return;
    const k = `${message.partition}\u0000${message.topic}`;
    const known = this.#next.get(k);
    if (known === undefined) this.#next.set(k, { topic: message.topic, partition: message.partition, offset: message.offset + 1n });
    else known.offset = message.offset + 1n;
  };

  /**
   * The last commit, once every write has completed: the refusal to report, or undefined. Waits at
   * most `finalCommitWaitMs`; a broker that cannot be reached is given up on quietly.
   */
  async finish(): Promise<unknown> {
    clearInterval(this.#timer);
    let refusal: unknown;
    const committing = this.#commit().catch((error: unknown) => {
      if (wasUnanswered(error)) return;
      const code = isWeirError(error) ? error.code : 'UNKNOWN';
      const reason = error instanceof Error ? error.message : String(error);
      refusal = new WeirError(code, `group ${this.#groupId}: the broker refused the final commit, so the messages printed since the last commit will be read again: ${reason}`, { cause: error });
    });
    await waitAtMost(committing, finalCommitWaitMs);
    return refusal;
  }

  /**
   * Commits the partitions still assigned, one commit at a time (an older one never lands last).
   * A partition a rebalance took is forgotten: its new owner commits it, and a position from
   * before would move the group back should it return.
   */
  #commit(): Promise<void> {
    this.#committing = this.#committing.catch(() => {}).then(() => {
      const assigned = new Set(this.#consumer.assignment.map((p) => `${p.partition}\u0000${p.topic}`));
      for (const k of this.#next.keys()) if (!assigned.has(k)) this.#next.delete(k);
      return this.#next.size === 0 ? undefined : this.#consumer.commit([...this.#next.values()]);
    });
    return this.#committing;
  }
}

/** How long the command waits for its final commit's answer when it stops. */
const finalCommitWaitMs = 5_000;

/**
 * Stops a run on Ctrl-C (a second one exits at once with 130), SIGTERM, a closed stdout, or
 * --timeout-ms without a message.
 */
function watchStops(stop: () => void, output: LineOutput, timeoutMs: number | undefined): { received: () => void; dispose: () => void } {
  let lastMessageMs = performance.now();
  const interrupted = (): void => {
    process.once('SIGINT', () => process.exit(130));
    stop();
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', stop);
  output.onClosed(stop);
  const checkMs = timeoutMs === undefined ? 0 : Math.max(10, Math.min(timeoutMs / 4, 1_000));
  const idle = timeoutMs === undefined ? null : setInterval(() => performance.now() - lastMessageMs >= timeoutMs && stop(), checkMs);
  return {
    // Without --timeout-ms nothing reads the time: no clock call per message.
    received: timeoutMs === undefined ? () => {} : () => void (lastMessageMs = performance.now()),
    dispose: () => {
      if (idle !== null) clearInterval(idle);
      process.removeListener('SIGINT', interrupted);
      process.removeListener('SIGTERM', stop);
    },
  };
}

/** Bounds of the queue flags. */
export const queueConsumeLimits = {
  /** The client's bound on unsettled messages per consumer. */
  prefetchMax: 100_000,
  /** The broker's bound on a consumer's rate. */
  ratePerSecondMax: 10_000_000,
} as const;

async function consumeQueue(topic: string, values: Flags, run: RunOptions): Promise<number> {
  const subscription = values.subscription;
  if (subscription === undefined || subscription === '') throw new UsageError('--type queue needs --subscription NAME');
  const prefetchWanted = integerOption('prefetch', values.prefetch, queueConsumerDefaults.prefetch, 1, queueConsumeLimits.prefetchMax);
  // Never lease more than --count needs: a message leased and not printed would count as a delivery.
  const prefetch = Math.min(prefetchWanted, run.count ?? prefetchWanted);
  const ratePerSecond = optionalIntegerOption('rate', values.rate, 1, queueConsumeLimits.ratePerSecondMax);
  // Pull by default: a push consumer can lose the credits of messages acknowledged before its
  // subscribe call returns (the client sends no credit while it has no active subscription).
  const mode = choiceOption('mode', values.mode, ['push', 'pull'] as const, 'pull');
  const acknowledging = !(values['no-ack'] ?? false);

  const client = await connectBroker(run.server, 'weir-consume');
  const stopReporting = reportDisconnects(client, 'consume');
  try {
    await requireSubscription(client, topic, subscription);
    const consumer = client.queueConsumer({ topic, subscription, prefetch, mode, ratePerSecond });
    const acknowledger = new Acknowledger(client, { topic, subscription, prefetch, count: run.count });
    const output = new LineOutput();
    // Written messages are acknowledged before the consumer leaves (leaving releases its leases):
    // the writes complete first, then their acknowledgements are answered, then it leaves.
    let closing: Promise<void> | null = null;
    const close = (): Promise<void> => (closing ??= output.end().then(() => acknowledger.finish()).then(() => consumer.close()));
    let stopping = false;
    const stops = watchStops(() => {
      stopping = true;
      void close();
    }, output, run.timeoutMs);
    let printed = 0;
    try {
      // Each break closes first: leaving the loop would close the consumer before the acknowledgements.
      for await (const message of consumer) {
        if (stopping || output.closed) {
          await close();
          break;
        }
        // Acknowledged once the operating system took its line (the write's callback): a crash in
        // between prints it twice, never zero times; a line lost to a closed stdout is not acknowledged.
        const written = acknowledging ? (handed: boolean) => void (handed && acknowledger.printed(message)) : undefined;
        output.line(formatMessage(message, run.print), written);
        output.flush();
        stops.received();
        if (++printed === run.count) {
          await close();
          break;
        }
        if (process.stdout.writableNeedDrain) await output.drained();
      }
    } finally {
      stops.dispose();
      await close();
    }
    if (acknowledger.failures > 0) {
      throw new WeirError('INVALID_RECEIPT', `${acknowledger.failures} of ${printed} printed messages were not acknowledged: the subscription may deliver them again`);
    }
    return 0;
  } finally {
    stopReporting();
    await client.close();
  }
}

/** A queue consumer would create a missing subscription with defaults; the command says so instead. */
async function requireSubscription(client: Client, topic: string, subscription: string): Promise<void> {
  try {
    await client.admin().describeSubscription(topic, subscription);
  } catch (error) {
    if (!isWeirError(error) || error.code !== 'UNKNOWN_SUBSCRIPTION') throw error;
    throw new WeirError('UNKNOWN_SUBSCRIPTION', `${error.message} (create it with: weir subscription create ${topic} ${subscription})`, { cause: error });
  }
}

/**
 * Acknowledges printed queue messages, each at once. An `ack()` returns a credit (push) or room
 * (pull) to the consumer, so the broker may lease one more message; with --count, the
 * acknowledgements that would let more than --count messages be leased are sent in settle
 * requests of their own, which return no credit.
 */
class Acknowledger {
  readonly #client: Client;
  readonly #options: { topic: string; subscription: string; prefetch: number; count: number | undefined };
  #creditingAcks = 0;
  readonly #pending = new Map<Promise<void>, QueueMessage>();
  #finished = false;
  failures = 0;

  constructor(client: Client, options: { topic: string; subscription: string; prefetch: number; count: number | undefined }) {
    this.#client = client;
    this.#options = options;
  }

  printed(message: QueueMessage): void {
    const { count, prefetch } = this.#options;
    // Leased at most: the messages held (up to prefetch) plus one per crediting acknowledgement.
    const crediting = count === undefined || this.#creditingAcks + 1 + prefetch <= count;
    if (crediting) this.#creditingAcks++;
    const acknowledged = (crediting ? message.ack() : this.#ackWithoutCredit(message)).catch((error: unknown) => this.#failed(message, error));
    this.#pending.set(acknowledged, message);
    void acknowledged.then(() => this.#pending.delete(acknowledged));
  }

  /** Waits for the answers, at most `acknowledgeWaitMs`: a broker gone for good does not hold the command. */
  async finish(): Promise<void> {
    await waitAtMost(Promise.all(this.#pending.keys()), acknowledgeWaitMs);
    for (const message of this.#pending.values()) {
      this.#failed(message, new WeirError('TIMEOUT', `no answer within ${acknowledgeWaitMs} ms`));
    }
    this.#finished = true; // a late answer was reported as missing
  }

  async #ackWithoutCredit(message: QueueMessage): Promise<void> {
    const { topic, subscription } = this.#options;
    const settlement = { action: 'ack' as const, partition: message.partition, offset: message.offset, count: 1, deliveryCount: message.deliveryCount, leaseEpoch: message.leaseEpoch, ms: 0, reason: '' };
    const [failure] = await this.#client.request('queueSettle', { topic, subscription, consumerId: 0, credits: 0, settlements: [settlement] });
    if (failure !== undefined) throw new WeirError(errorCodeFromWire(failure.errorCode), failure.errorMessage);
  }

  #failed(message: QueueMessage, error: unknown): void {
    if (this.#finished) return;
    this.failures++;
    process.stderr.write(`weir consume: acknowledging ${message.partition}:${message.offset} failed: ${describeError(error)}\n`);
  }
}

/** How long the command waits for its acknowledgements' answers when it stops. */
const acknowledgeWaitMs = 5_000;

function formatMessage(message: ConsumerMessage & { deliveryCount?: number }, print: PrintOptions): string {
  if (print.json) {
    return toJson({
      topic: message.topic,
      partition: message.partition,
      offset: message.offset,
      timestamp: message.timestamp,
      key: message.key?.toString('utf8') ?? null,
      value: message.value?.toString('utf8') ?? null,
      headers: message.headers.map((h) => ({ key: h.key, value: h.value?.toString('utf8') ?? null })),
      ...(message.deliveryCount === undefined ? {} : { deliveryCount: message.deliveryCount }),
    });
  }
  const value = message.value?.toString('utf8') ?? '';
  if (!print.key && !print.headers && !print.offset) return value;
  const fields: string[] = [];
  if (print.offset) fields.push(`${message.partition}:${message.offset}`);
  if (print.key) fields.push(message.key?.toString('utf8') ?? '');
  if (print.headers) fields.push(message.headers.map((h) => (h.value === null ? h.key : `${h.key}=${h.value.toString('utf8')}`)).join(','));
  fields.push(value);
  return fields.join(print.separator);
}
