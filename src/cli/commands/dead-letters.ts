/**
 * `weir dead-letters list | replay DLQ_TOPIC`: what a dead-letter topic holds, where each letter
 * came from and why; and producing selected (or all) letters back to their original topics.
 */
import type { DeadLetter } from '../../client/index.js';
import { isWeirError, WeirError } from '../../util/errors.js';
import { offsetMax, optionalIntegerOption, parseCommandLine, positionalArguments, serverOptionSpec, UsageError } from '../args.js';
import { connectBroker } from '../broker-client.js';
import { formatTable, toJson } from '../table.js';

export const deadLettersDefaults = {
  /** Letters listed when --max is not given. */
  listMax: 100,
  /** The broker's bound on one listing. */
  listMaxLimit: 10_000,
  /** Characters of a value shown in the table (--json shows all of it). */
  valueCharsMax: 60,
} as const;

export const deadLettersUsage = `weir dead-letters list DLQ_TOPIC [options]   dead letters with their origin and reason
  --partition N             only partition N of the dead-letter topic
  --offset N                start at this offset (default: each partition's start)
  --max N                   at most N letters (default 100, at most 10000)
  --json                    one JSON object per letter
weir dead-letters replay DLQ_TOPIC --all | --offset P:O ...
                            produce dead letters back to their original topics (without the
                            dead-letter headers): all of them, or those at partition P, offset O
                            (repeatable)
  --server HOST:PORT        broker address (default: $WEIR_SERVER, else 127.0.0.1:7400)`;

export async function deadLetters(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  if (action === 'list') return list(rest);
  if (action === 'replay') return replay(rest);
  throw new UsageError(action === undefined ? 'missing the action (list, replay)' : `unknown action ${JSON.stringify(action)}`);
}

async function list(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine({
    args: argv,
    options: { ...serverOptionSpec, partition: { type: 'string' }, offset: { type: 'string' }, max: { type: 'string' }, json: { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  });
  const [topic] = positionalArguments(positionals, ['DLQ_TOPIC']);
  const partition = optionalIntegerOption('partition', values.partition, 0, 2 ** 31 - 1);
  const offset = optionalIntegerOption('offset', values.offset, 0);
  const max = optionalIntegerOption('max', values.max, 1, deadLettersDefaults.listMaxLimit) ?? deadLettersDefaults.listMax;
  const client = await connectBroker(values.server);
  try {
    const letters = await client.admin().listDeadLetters(topic!, { partition, offset: offset === undefined ? undefined : BigInt(offset), max }).catch(explainMissingTopic);
    if (values.json) {
      for (const letter of letters) process.stdout.write(`${toJson(jsonView(letter))}\n`);
      return 0;
    }
    if (letters.length === 0) {
      process.stdout.write(`no dead letters in ${topic}\n`);
      return 0;
    }
    const rows = letters.map((l) => [
      `${l.partition}:${l.offset}`,
      `${l.originalTopic} ${l.originalPartition}:${l.originalOffset}`,
      l.subscription,
      l.deliveryCount,
      new Date(l.deadLetteredAtMs).toISOString(),
      l.reason,
      shortened(l.value?.toString('utf8') ?? null),
    ]);
    process.stdout.write(`${formatTable(['AT', 'ORIGINAL', 'SUBSCRIPTION', 'DELIVERIES', 'DEAD-LETTERED', 'REASON', 'VALUE'], rows)}\n`);
    return 0;
  } finally {
    await client.close();
  }
}

function shortened(text: string | null): string | null {
  if (text === null) return null;
  const line = text.replace(/[\r\n\t]/g, ' ');
  return line.length <= deadLettersDefaults.valueCharsMax ? line : `${line.slice(0, deadLettersDefaults.valueCharsMax - 1)}…`;
}

function jsonView(l: DeadLetter): unknown {
  return {
    partition: l.partition,
    offset: l.offset,
    originalTopic: l.originalTopic,
    originalPartition: l.originalPartition,
    originalOffset: l.originalOffset,
    subscription: l.subscription,
    deliveryCount: l.deliveryCount,
    reason: l.reason,
    deadLetteredAt: l.deadLetteredAtMs,
    timestamp: l.timestampMs,
    key: l.key?.toString('utf8') ?? null,
    value: l.value?.toString('utf8') ?? null,
    headers: l.headers.map((h) => ({ key: h.key, value: h.value?.toString('utf8') ?? null })),
  };
}

async function replay(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine({
    args: argv,
    options: { ...serverOptionSpec, all: { type: 'boolean' }, offset: { type: 'string', multiple: true } },
    allowPositionals: true,
    strict: true,
  });
  const [topic] = positionalArguments(positionals, ['DLQ_TOPIC']);
  const offsets = values.offset ?? [];
  if (values.all && offsets.length > 0) throw new UsageError('give either --all or --offset, not both');
  if (!values.all && offsets.length === 0) throw new UsageError('say which dead letters to replay: --all or --offset P:O');
  const select = values.all ? undefined : offsets.map(positionOption);
  const client = await connectBroker(values.server);
  try {
    const { replayed } = await client.admin().replayDeadLetters(topic!, select).catch(explainMissingTopic);
    process.stdout.write(`replayed ${replayed} dead letter${replayed === 1 ? '' : 's'} from ${topic} to their original topics\n`);
    return 0;
  } finally {
    await client.close();
  }
}

/**
 * A dead-letter topic appears with its first letter, so a missing one is often a subscription's
 * that has dead-lettered nothing yet: the message says so, not only that the topic does not exist.
 */
function explainMissingTopic(error: unknown): never {
  if (!isWeirError(error, 'UNKNOWN_TOPIC')) throw error;
  throw new WeirError('UNKNOWN_TOPIC', `${error.message} (a dead-letter topic is created when its first message is dead-lettered; weir subscription describe TOPIC NAME names a subscription's dead-letter topic)`, { cause: error });
}

/** `P:O`, a partition and an offset of the dead-letter topic. */
function positionOption(text: string): { partition: number; offset: bigint } {
  const match = /^(\d{1,10}):(\d{1,19})$/.exec(text);
  const partition = match === null ? -1 : Number(match[1]);
  if (match === null || partition > 2 ** 31 - 1 || BigInt(match[2]!) > offsetMax) throw new UsageError(`--offset ${JSON.stringify(text)}: expected PARTITION:OFFSET such as 0:17`);
  return { partition, offset: BigInt(match[2]!) };
}
