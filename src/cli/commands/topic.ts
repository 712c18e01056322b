/** `weir topic create | alter | list | describe | delete`. */
import type { TopicConfig, TopicDescription } from '../../client/index.js';
import { parseFlushPolicy } from '../../server/server.js';
import { WeirError } from '../../util/errors.js';
import { describeError, limitOption, optionalIntegerOption, parseCommandLine, positionalArguments, serverOptionSpec, UsageError } from '../args.js';
import { connectBroker } from '../broker-client.js';
import { formatTable, toJson } from '../table.js';

export const topicUsage = `weir topic create NAME [options]    create a topic (unset options take the broker's defaults)
  --partitions N            number of partitions
  --retention-ms MS         delete segments older than this ("none": keep forever)
  --retention-bytes N       keep at most about this many bytes per partition ("none": no limit)
  --flush POLICY            always | none | interval:<ms>  (when an append is fdatasync'ed)
  --message-bytes-max N     largest record batch a producer may send
  --segment-bytes-max N     roll a segment file at this size
  --segment-age-ms-max MS   roll a segment file at this age
  --message-ttl-ms MS       queue subscriptions skip messages older than this ("none": no limit)
  --timestamp-ahead-ms-max MS  refuse batches dated further ahead of the broker's clock than this
                            (default 3600000; "none": accept any timestamp)
  --timestamp-behind-ms-max MS  refuse batches with a record dated further behind the broker's
                            clock than this (default "none": accept any timestamp)
weir topic alter NAME [options]     change a topic: the options above (--partitions only grows it)
weir topic list [--json] [--internal]
                                    every topic with its partition count and configuration
                                    (--internal: Weir's own topics too, such as __consumer_offsets)
weir topic describe NAME [--json]   configuration and per-partition offsets and sizes
weir topic delete NAME              delete a topic and its data
  --server HOST:PORT        broker address (default: $WEIR_SERVER, else 127.0.0.1:7400)`;

export async function topic(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  switch (action) {
    case 'create':
      return create(rest);
    case 'alter':
      return alter(rest);
    case 'list':
      return list(rest);
    case 'describe':
      return describe(rest);
    case 'delete':
      return remove(rest);
    default:
      throw new UsageError(action === undefined ? 'missing the action (create, alter, list, describe, delete)' : `unknown action ${JSON.stringify(action)}`);
  }
}

const configOptionSpec = {
  partitions: { type: 'string' },
  'retention-ms': { type: 'string' },
  'retention-bytes': { type: 'string' },
  flush: { type: 'string' },
  'message-bytes-max': { type: 'string' },
  'segment-bytes-max': { type: 'string' },
  'segment-age-ms-max': { type: 'string' },
  'message-ttl-ms': { type: 'string' },
  'timestamp-ahead-ms-max': { type: 'string' },
  'timestamp-behind-ms-max': { type: 'string' },
} as const;

async function create(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine({ args: argv, options: { ...serverOptionSpec, ...configOptionSpec }, allowPositionals: true, strict: true });
  const [name] = positionalArguments(positionals, ['NAME']);
  const config = topicConfigFromFlags(values);
  const client = await connectBroker(values.server);
  try {
    const created = await client.admin().createTopic(name!, config).catch(inFlagTerms);
    process.stdout.write(`created topic ${created.name} with ${created.partitions.length} partition${created.partitions.length === 1 ? '' : 's'}\n`);
    return 0;
  } finally {
    await client.close();
  }
}

async function alter(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine({ args: argv, options: { ...serverOptionSpec, ...configOptionSpec }, allowPositionals: true, strict: true });
  const [name] = positionalArguments(positionals, ['NAME']);
  const changes = topicConfigFromFlags(values);
  if (Object.keys(changes).length === 0) throw new UsageError('nothing to change: give at least one of --partitions, --retention-ms, --retention-bytes, --flush, --message-bytes-max, --segment-bytes-max, --segment-age-ms-max, --message-ttl-ms, --timestamp-ahead-ms-max, --timestamp-behind-ms-max');
  const client = await connectBroker(values.server);
  try {
    const admin = client.admin();
    const before = await admin.describeTopic(name!);
    const after = await admin.alterTopic(name!, changes).catch(inFlagTerms);
    process.stdout.write(`altered topic ${after.name}: ${changesText(before, after)}\n`);
    return 0;
  } finally {
    await client.close();
  }
}

/** `partitions 2 -> 4, retention 7 days -> 1 hour`-style summary of what differs. */
function changesText(before: TopicDescription, after: TopicDescription): string {
  const shown: [string, (t: TopicDescription) => unknown][] = [
    ['partitions', (t) => t.partitions.length],
    ['flush', (t) => flushText(t.config)],
    ['retention', (t) => retentionText(t.config)],
    ['message-bytes-max', (t) => t.config.messageBytesMax],
    ['segment-bytes-max', (t) => t.config.segmentBytesMax],
    ['segment-age-ms-max', (t) => t.config.segmentAgeMsMax],
    ['message-ttl-ms', (t) => t.config.messageTtlMs ?? 'none'],
    ['timestamp-ahead-ms-max', (t) => t.config.timestampAheadMsMax ?? 'none'],
    ['timestamp-behind-ms-max', (t) => t.config.timestampBehindMsMax ?? 'none'],
  ];
  const changed = shown.filter(([, of]) => of(before) !== of(after)).map(([label, of]) => `${label} ${of(before)} -> ${of(after)}`);
  return changed.length > 0 ? changed.join(', ') : 'nothing changed (the values were already set)';
}

/** The configuration flags of `topic create` and `topic alter`, checked here so that a typo is a usage error. */
export function topicConfigFromFlags(values: Partial<Record<keyof typeof configOptionSpec, string>>): Partial<TopicConfig> {
  const config: Partial<TopicConfig> = {};
  config.partitions = optionalIntegerOption('partitions', values.partitions, 1, 10_000);
  config.retentionMs = limitOption('retention-ms', values['retention-ms']);
  config.retentionBytes = limitOption('retention-bytes', values['retention-bytes']);
  config.messageBytesMax = optionalIntegerOption('message-bytes-max', values['message-bytes-max'], 1, 2 ** 31 - 1);
  config.segmentBytesMax = optionalIntegerOption('segment-bytes-max', values['segment-bytes-max'], 1);
  config.segmentAgeMsMax = optionalIntegerOption('segment-age-ms-max', values['segment-age-ms-max'], 1);
  config.messageTtlMs = limitOption('message-ttl-ms', values['message-ttl-ms']);
  config.timestampAheadMsMax = limitOption('timestamp-ahead-ms-max', values['timestamp-ahead-ms-max'], 0);
  config.timestampBehindMsMax = limitOption('timestamp-behind-ms-max', values['timestamp-behind-ms-max'], 0);
  if (values.flush !== undefined) {
    try {
      config.flush = parseFlushPolicy(values.flush);
    } catch (error) {
      throw new UsageError(`--flush ${JSON.stringify(values.flush)}: ${describeError(error)}`);
    }
  }
  return Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined)) as Partial<TopicConfig>;
}

/** The flag that sets each field of the broker's topic configuration. */
const flagOfField = new Map<string, string>([
  ...Object.keys(configOptionSpec).map((flag): [string, string] => [flag.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase()), flag]),
  ['flush.intervalMs', 'flush'],
]);

/**
 * Rethrows a configuration the broker refused in the words of the command line: the broker names
 * its fields (`segmentBytesMax=1 is invalid`), the user typed flags (`--segment-bytes-max 1`).
 */
function inFlagTerms(error: unknown): never {
  if (!(error instanceof WeirError) || error.code !== 'INVALID_CONFIG') throw error;
  const refused = /^([A-Za-z.]+)=(.*?) is invalid: (.*)$/s.exec(error.message);
  const flag = refused && flagOfField.get(refused[1]!);
  if (!refused || flag === undefined) throw error;
  const rule = refused[3]!.replace(/\b[a-z]+[A-Z][A-Za-z]*\b/g, (field) => (flagOfField.has(field) ? `--${flagOfField.get(field)}` : field));
  throw new WeirError(error.code, `--${flag} ${refused[2]} is invalid: ${rule}`, { cause: error });
}

async function list(argv: string[]): Promise<number> {
  const { values } = parseCommandLine({ args: argv, options: { ...serverOptionSpec, json: { type: 'boolean' }, internal: { type: 'boolean' } }, strict: true });
  const client = await connectBroker(values.server);
  try {
    const topics = (await client.admin().listTopics({ includeInternal: values.internal ?? false })).sort((a, b) => a.name.localeCompare(b.name));
    if (values.json) {
      for (const t of topics) process.stdout.write(`${toJson(t)}\n`);
      return 0;
    }
    const rows = topics.map((t) => [t.name, t.partitions.length, messagesOf(t), bytesOf(t), flushText(t.config), retentionText(t.config)]);
    process.stdout.write(`${formatTable(['TOPIC', 'PARTITIONS', 'MESSAGES', 'BYTES', 'FLUSH', 'RETENTION'], rows)}\n`);
    return 0;
  } finally {
    await client.close();
  }
}

async function describe(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine({ args: argv, options: { ...serverOptionSpec, json: { type: 'boolean' } }, allowPositionals: true, strict: true });
  const [name] = positionalArguments(positionals, ['NAME']);
  const client = await connectBroker(values.server);
  try {
    const t = await client.admin().describeTopic(name!);
    if (values.json) {
      process.stdout.write(`${toJson(t)}\n`);
      return 0;
    }
    const c = t.config;
    const settings = labelledLines([
      ['topic', `${t.name}${t.internal ? ' (internal)' : ''}`],
      ['partitions', t.partitions.length],
      ['flush', flushText(c)],
      ['retention', retentionText(c)],
      ['message-bytes-max', c.messageBytesMax],
      ['segment-bytes-max', c.segmentBytesMax],
      ['segment-age-ms-max', c.segmentAgeMsMax],
      ['message-ttl-ms', c.messageTtlMs ?? 'none'],
      ['timestamp-ahead-ms-max', c.timestampAheadMsMax ?? 'none'],
      ['timestamp-behind-ms-max', c.timestampBehindMsMax ?? 'none'],
    ]);
    const lines = [
      settings,
      '',
      formatTable(
        ['PARTITION', 'START', 'END', 'HIGH-WATERMARK', 'MESSAGES', 'BYTES'],
        t.partitions.map((p) => [p.partition, p.offsetStart, p.offsetEnd, p.highWatermark, p.offsetEnd - p.offsetStart, p.sizeBytes]),
      ),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  } finally {
    await client.close();
  }
}

async function remove(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine({ args: argv, options: { ...serverOptionSpec }, allowPositionals: true, strict: true });
  const [name] = positionalArguments(positionals, ['NAME']);
  const client = await connectBroker(values.server);
  try {
    await client.admin().deleteTopic(name!);
    process.stdout.write(`deleted topic ${name}\n`);
    return 0;
  } finally {
    await client.close();
  }
}

/** `label  value` lines with every value starting in the same column. */
function labelledLines(pairs: readonly (readonly [string, string | number])[]): string {
  const width = Math.max(...pairs.map(([label]) => label.length));
  return pairs.map(([label, value]) => `${label.padEnd(width)} ${value}`).join('\n');
}

function messagesOf(t: TopicDescription): bigint {
  return t.partitions.reduce((sum, p) => sum + (p.offsetEnd - p.offsetStart), 0n);
}

function bytesOf(t: TopicDescription): number {
  return t.partitions.reduce((sum, p) => sum + p.sizeBytes, 0);
}

function flushText(c: TopicConfig): string {
  return c.flush.kind === 'interval' ? `interval:${c.flush.intervalMs}` : c.flush.kind;
}

function retentionText(c: TopicConfig): string {
  const time = c.retentionMs === null ? 'forever' : `${c.retentionMs} ms`;
  return c.retentionBytes === null ? time : `${time}, ${c.retentionBytes} bytes`;
}
