/**
 * `weir consume TOPIC`: prints messages, one per line. As a group member (--group) it resumes
 * from the group's committed offsets and commits what it printed when it stops (after --count
 * messages, on Ctrl-C, or when stdout closes).
 */
import { parseArgs } from 'node:util';
import { consumerDefaults, type ConsumerMessage, type ConsumerOptions } from '../../client/index.js';
import { optionalIntegerOption, positionalArguments, serverOptionSpec, startPositionOption, UsageError, choiceOption } from '../args.js';
import { connectBroker, reportDisconnects } from '../broker-client.js';
import { LineOutput } from '../output.js';
import { toJson } from '../table.js';

export const consumeUsage = `weir consume TOPIC [options]     print messages, one per line
  --group G                 consume as a member of group G (resumes from its committed offsets, commits)
  --from POSITION           earliest | latest (default) | OFFSET | ISO-8601 time, where to start
                            when the group has no committed offset
  --partition N             read only partition N (with --group: commits under G without membership)
  --count N                 exit after exactly N messages
  --timeout-ms MS           exit when no message arrives for MS
  --print-key               print the key before the value
  --print-headers           print the headers (k=v,k=v) before the value
  --print-offset            print partition:offset first
  --separator SEP           between printed fields (default a tab)
  --json                    one JSON object per line: topic, partition, offset, timestamp, key, value, headers
  --mode pull|push          how messages are fetched: long-polling fetches (default) or broker push with credits
  --server HOST:PORT        broker address (default: $WEIR_SERVER, else 127.0.0.1:7400)`;

interface PrintOptions {
  json: boolean;
  key: boolean;
  headers: boolean;
  offset: boolean;
  separator: string;
}

export async function consume(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      ...serverOptionSpec,
      group: { type: 'string' },
      from: { type: 'string' },
      partition: { type: 'string' },
      count: { type: 'string' },
      'timeout-ms': { type: 'string' },
      'print-key': { type: 'boolean' },
      'print-headers': { type: 'boolean' },
      'print-offset': { type: 'boolean' },
      separator: { type: 'string' },
      json: { type: 'boolean' },
      mode: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  const [topic] = positionalArguments(positionals, ['TOPIC']);
  const partition = optionalIntegerOption('partition', values.partition, 0, 2 ** 31 - 1);
  const count = optionalIntegerOption('count', values.count, 1);
  const timeoutMs = optionalIntegerOption('timeout-ms', values['timeout-ms'], 1);
  const options: ConsumerOptions = {
    groupId: values.group,
    from: startPositionOption(values.from) ?? 'latest',
    mode: choiceOption('mode', values.mode, ['push', 'pull'] as const, 'pull'),
  };
  if (values.group === '') throw new UsageError('--group must not be empty');
  if (partition !== undefined) options.partitions = [{ topic: topic!, partition }];
  else options.topics = [topic!];
  if (count !== undefined) options.prefetchMessages = Math.min(count, consumerDefaults.prefetchMessages);
  const print: PrintOptions = {
    json: values.json ?? false,
    key: values['print-key'] ?? false,
    headers: values['print-headers'] ?? false,
    offset: values['print-offset'] ?? false,
    separator: values.separator ?? '\t',
  };

  const client = await connectBroker(values.server, 'weir-consume');
  const stopReporting = reportDisconnects(client, 'consume');
  const consumer = client.consumer(options);
  const output = new LineOutput();
  let lastMessageMs = performance.now();
  // Consumer.close() returns at once when already closing: keep the first call's promise.
  let closing: Promise<void> | null = null;
  const stop = (): void => void (closing ??= consumer.close());
  const interrupted = (): void => {
    process.once('SIGINT', () => process.exit(130));
    stop();
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', stop);
  output.onClosed(stop);
  const idle = timeoutMs === undefined ? null : setInterval(() => performance.now() - lastMessageMs >= timeoutMs && stop(), Math.max(10, Math.min(timeoutMs / 4, 1_000)));
  let printed = 0;
  try {
    for await (const message of consumer) {
      output.line(formatMessage(message, print));
      lastMessageMs = performance.now();
      if (++printed === count) break;
      if (process.stdout.writableNeedDrain) await output.drained();
    }
    await output.end();
  } finally {
    if (idle !== null) clearInterval(idle);
    process.removeListener('SIGINT', interrupted);
    process.removeListener('SIGTERM', stop);
    await (closing ??= consumer.close());
    stopReporting();
    await client.close();
  }
  return 0;
}

function formatMessage(message: ConsumerMessage, print: PrintOptions): string {
  if (print.json) {
    return toJson({
      topic: message.topic,
      partition: message.partition,
      offset: message.offset,
      timestamp: message.timestamp,
      key: message.key?.toString('utf8') ?? null,
      value: message.value?.toString('utf8') ?? null,
      headers: message.headers.map((h) => ({ key: h.key, value: h.value?.toString('utf8') ?? null })),
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
