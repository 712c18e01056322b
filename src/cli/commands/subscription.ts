/**
 * `weir subscription create | list | describe | delete`: queue subscriptions, their settings and
 * their state (backlog, in flight, scheduled, delivery counts, oldest message age).
 */
import type { QueueSubscriptionConfig, RedeliveryBackoff, SubscriptionDescription } from '../../client/index.js';
import { ackTimeoutMsMax, ackTimeoutMsMin, deliveriesMaxLimit } from '../../server/server.js';
import { isWeirError } from '../../util/errors.js';
import { choiceOption, limitOption, optionalIntegerOption, parseCommandLine, positionalArguments, serverOptionSpec, UsageError } from '../args.js';
import { connectBroker } from '../broker-client.js';
import { formatTable, toJson } from '../table.js';

export const subscriptionUsage = `weir subscription create TOPIC NAME [options]   create a queue subscription (an existing one takes the given settings)
  --ack-timeout-ms MS          how long a consumer holds a message before it is delivered again
                               (default 30000, from ${ackTimeoutMsMin} to ${ackTimeoutMsMax}: 12 hours)
  --deliveries-max N           dead-letter a message after N unacknowledged deliveries (default 5, at most ${deliveriesMaxLimit})
  --backoff POLICY             fixed:<ms> | exp:<initial ms>:<max ms> (doubling, ±20 % jitter;
                               default exp:1000:60000) before a failed message comes again
  --dead-letter-topic T        where dead letters go (default TOPIC.NAME.dlq)
  --discard drop|dead-letter   what happens to expired and overflowed messages (default drop)
  --backlog-messages-max N     bound the backlog ("none": no limit, the default)
  --backlog-bytes-max N        bound the backlog's bytes ("none": no limit, the default)
  --overflow reject|drop-oldest  at the bound: producers get QUEUE_FULL (default), or the oldest go
  --key-ordered                one message per key at a time, in order
  --start earliest|latest      where a new subscription starts (default earliest; an existing one keeps its start)
weir subscription list [TOPIC] [--json]         every queue subscription (of TOPIC) with its state
weir subscription describe TOPIC NAME [--json]  settings, per-partition state, delivery counts
weir subscription delete TOPIC NAME             delete a subscription and its state
  --server HOST:PORT           broker address (default: $WEIR_SERVER, else 127.0.0.1:7400)`;

export async function subscription(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  switch (action) {
    case 'create':
      return create(rest);
    case 'list':
      return list(rest);
    case 'describe':
      return describe(rest);
    case 'delete':
      return remove(rest);
    default:
      throw new UsageError(action === undefined ? 'missing the action (create, list, describe, delete)' : `unknown action ${JSON.stringify(action)}`);
  }
}

const configOptionSpec = {
  'ack-timeout-ms': { type: 'string' },
  'deliveries-max': { type: 'string' },
  backoff: { type: 'string' },
  'dead-letter-topic': { type: 'string' },
  discard: { type: 'string' },
  'backlog-messages-max': { type: 'string' },
  'backlog-bytes-max': { type: 'string' },
  overflow: { type: 'string' },
  'key-ordered': { type: 'boolean' },
  start: { type: 'string' },
} as const;

type ConfigFlags = Partial<Record<Exclude<keyof typeof configOptionSpec, 'key-ordered'>, string>> & { 'key-ordered'?: boolean };

async function create(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine({ args: argv, options: { ...serverOptionSpec, ...configOptionSpec }, allowPositionals: true, strict: true });
  const [topic, name] = positionalArguments(positionals, ['TOPIC', 'NAME']);
  const config = subscriptionConfigFromFlags(values);
  const client = await connectBroker(values.server);
  try {
    const admin = client.admin();
    const existed = await admin.describeSubscription(topic!, name!).then(
      () => true,
      (error: unknown) => {
        if (isWeirError(error, 'UNKNOWN_SUBSCRIPTION') || isWeirError(error, 'UNKNOWN_TOPIC')) return false;
        throw error;
      },
    );
    const created = await admin.createSubscription(topic!, name!, config);
    process.stdout.write(`${existed ? 'updated' : 'created'} subscription ${created.name} on ${created.topic} (dead letters to ${created.config.deadLetterTopic})\n`);
    return 0;
  } finally {
    await client.close();
  }
}

/** The settings flags of `subscription create`, checked here so that a typo is a usage error. */
export function subscriptionConfigFromFlags(values: ConfigFlags): Partial<QueueSubscriptionConfig> {
  const config: Partial<QueueSubscriptionConfig> = {
    ackTimeoutMs: optionalIntegerOption('ack-timeout-ms', values['ack-timeout-ms'], ackTimeoutMsMin, ackTimeoutMsMax),
    deliveriesMax: optionalIntegerOption('deliveries-max', values['deliveries-max'], 1, deliveriesMaxLimit),
    backoff: values.backoff === undefined ? undefined : parseBackoffFlag(values.backoff),
    deadLetterTopic: values['dead-letter-topic'],
    backlogMessagesMax: limitOption('backlog-messages-max', values['backlog-messages-max']),
    backlogBytesMax: limitOption('backlog-bytes-max', values['backlog-bytes-max']),
    keyOrdered: values['key-ordered'],
  };
  if (config.deadLetterTopic === '') throw new UsageError('--dead-letter-topic must not be empty');
  if (values.discard !== undefined) config.discard = choiceOption('discard', values.discard, ['drop', 'dead-letter'] as const, 'drop');
  if (values.overflow !== undefined) config.overflow = choiceOption('overflow', values.overflow, ['reject', 'drop-oldest'] as const, 'reject');
  if (values.start !== undefined) config.startAt = choiceOption('start', values.start, ['earliest', 'latest'] as const, 'earliest');
  return Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined)) as Partial<QueueSubscriptionConfig>;
}

/** Exponential backoff from the command line doubles each time, with the broker's ±20 % jitter. */
const cliBackoffShape = { multiplier: 2, jitter: 0.2 } as const;

/** `fixed:<ms>` or `exp:<initial ms>:<max ms>` (also spelled `exponential:`). */
export function parseBackoffFlag(text: string): RedeliveryBackoff {
  const fixed = /^fixed:(\d+)$/.exec(text);
  if (fixed !== null) return { kind: 'fixed', delayMs: backoffMs(text, fixed[1]!) };
  const exponential = /^exp(?:onential)?:(\d+):(\d+)$/.exec(text);
  if (exponential !== null) {
    const initialMs = backoffMs(text, exponential[1]!);
    const maxMs = backoffMs(text, exponential[2]!);
    if (maxMs < initialMs) throw new UsageError(`--backoff ${JSON.stringify(text)}: the maximum is below the initial delay`);
    return { kind: 'exponential', initialMs, maxMs, ...cliBackoffShape };
  }
  throw new UsageError(`--backoff ${JSON.stringify(text)}: expected fixed:<ms> or exp:<initial ms>:<max ms>`);
}

function backoffMs(text: string, digits: string): number {
  const ms = Number(digits);
  if (!Number.isSafeInteger(ms)) throw new UsageError(`--backoff ${JSON.stringify(text)}: ${digits} is too large`);
  return ms;
}

/** The textual form `parseBackoffFlag` reads (exponential with other shapes says so). */
export function backoffText(backoff: RedeliveryBackoff): string {
  if (backoff.kind === 'fixed') return `fixed:${backoff.delayMs}`;
  const text = `exp:${backoff.initialMs}:${backoff.maxMs}`;
  if (backoff.multiplier === cliBackoffShape.multiplier && backoff.jitter === cliBackoffShape.jitter) return text;
  return `${text} (x${backoff.multiplier}, ±${Math.round(backoff.jitter * 100)} %)`;
}

async function list(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine({ args: argv, options: { ...serverOptionSpec, json: { type: 'boolean' } }, allowPositionals: true, strict: true });
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1])}`);
  const topic = positionals[0];
  const client = await connectBroker(values.server);
  try {
    // The broker lists no subscription of a missing topic: it fails with UNKNOWN_TOPIC, as elsewhere.
    if (topic !== undefined) await client.admin().describeTopic(topic);
    const all = await client.admin().listSubscriptions(topic);
    const subscriptions = all.sort((a, b) => a.topic.localeCompare(b.topic) || a.name.localeCompare(b.name));
    if (values.json) {
      for (const s of subscriptions) process.stdout.write(`${toJson(s)}\n`);
      return 0;
    }
    const rows = subscriptions.map((s) => [
      s.topic,
      s.name,
      s.consumers,
      s.backlogMessages,
      s.inFlight,
      s.scheduled,
      ageText(s.oldestMessageAgeMs),
      s.redeliveriesTotal,
      s.deadLettersTotal,
    ]);
    process.stdout.write(`${formatTable(['TOPIC', 'NAME', 'CONSUMERS', 'BACKLOG', 'IN-FLIGHT', 'SCHEDULED', 'OLDEST-AGE', 'REDELIVERIES', 'DEAD-LETTERS'], rows)}\n`);
    return 0;
  } finally {
    await client.close();
  }
}

async function describe(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine({ args: argv, options: { ...serverOptionSpec, json: { type: 'boolean' } }, allowPositionals: true, strict: true });
  const [topic, name] = positionalArguments(positionals, ['TOPIC', 'NAME']);
  const client = await connectBroker(values.server);
  try {
    const description = await client.admin().describeSubscription(topic!, name!);
    process.stdout.write(`${values.json ? toJson(description) : formatSubscription(description)}\n`);
    return 0;
  } finally {
    await client.close();
  }
}

export function formatSubscription(d: SubscriptionDescription): string {
  const c = d.config;
  const counts = Object.entries(d.deliveryCounts)
    .map(([deliveries, messages]) => [Number(deliveries), messages] as const)
    .sort((a, b) => a[0] - b[0]);
  const lines = [
    `subscription         ${d.name} on ${d.topic} (${d.type})`,
    `consumers            ${d.consumers}`,
    `backlog              ${d.backlogMessages} messages, ${d.backlogBytes} bytes`,
    `in flight            ${d.inFlight}`,
    `scheduled            ${d.scheduled}`,
    `oldest message age   ${ageText(d.oldestMessageAgeMs)}`,
    `acknowledged         ${d.ackedTotal}`,
    `redeliveries         ${d.redeliveriesTotal}`,
    `dead letters         ${d.deadLettersTotal}`,
    '',
    `ack-timeout-ms       ${c.ackTimeoutMs}`,
    `deliveries-max       ${c.deliveriesMax}`,
    `backoff              ${backoffText(c.backoff)}`,
    `dead-letter-topic    ${c.deadLetterTopic}`,
    `discard              ${c.discard}`,
    `backlog-messages-max ${c.backlogMessagesMax ?? 'none'}`,
    `backlog-bytes-max    ${c.backlogBytesMax ?? 'none'}`,
    `overflow             ${c.overflow}`,
    `key-ordered          ${c.keyOrdered}`,
    `start                ${c.startAt}`,
    '',
    formatTable(
      ['PARTITION', 'ACK-FLOOR', 'BACKLOG', 'BACKLOG-BYTES', 'IN-FLIGHT', 'SCHEDULED', 'IN-MEMORY', 'IN-MEMORY-BYTES'],
      [...d.partitions]
        .sort((a, b) => a.partition - b.partition)
        .map((p) => [p.partition, p.ackFloor, p.backlogMessages, p.backlogBytes, p.inFlight, p.scheduled, p.windowMessages, p.windowBytes]),
    ),
    '',
    counts.length === 0 ? 'no message in flight or waiting for redelivery' : formatTable(['DELIVERIES', 'MESSAGES'], counts),
  ];
  return lines.join('\n');
}

/** `850 ms`, `12.3 s`, `4 min 5 s`, `2 h 10 min`; `-` for none. */
export function ageText(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  const seconds = Math.floor(ms / 1_000);
  if (seconds < 3_600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  return `${Math.floor(seconds / 3_600)} h ${Math.floor((seconds % 3_600) / 60)} min`;
}

async function remove(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine({ args: argv, options: { ...serverOptionSpec }, allowPositionals: true, strict: true });
  const [topic, name] = positionalArguments(positionals, ['TOPIC', 'NAME']);
  const client = await connectBroker(values.server);
  try {
    await client.admin().deleteSubscription(topic!, name!);
    process.stdout.write(`deleted subscription ${name} on ${topic}\n`);
    return 0;
  } finally {
    await client.close();
  }
}
