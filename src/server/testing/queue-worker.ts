/**
 * For tests: a queue consumer process that tests SIGKILL while it holds leases. For each message
 * it appends `ack VALUE PARTITION OFFSET DELIVERY_COUNT` to LOG_FILE, then acknowledges it; it
 * holds (never settles) every message whose value starts with `poison`, so those fail once per
 * worker that dies holding them. `DELAY_MS` (default 0) is a pause after each message, so that a
 * kill finds messages in flight.
 *
 * The log is written with a plain write(2) to a file, which a SIGKILL cannot undo once it returned:
 * a line written to a pipe through process.stdout may still wait in the process (Node writes to a
 * full pipe later), and would be lost with it.
 *
 *   node dist/server/testing/queue-worker.js URL TOPIC SUBSCRIPTION PREFETCH LOG_FILE [DELAY_MS]
 */
import { openSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from '../../client/index.js';

const [url, topic, subscription, prefetch, logFile, delayMs] = process.argv.slice(2);
if (url === undefined || topic === undefined || subscription === undefined || prefetch === undefined || logFile === undefined) {
  process.stderr.write('usage: queue-worker URL TOPIC SUBSCRIPTION PREFETCH LOG_FILE [DELAY_MS]\n');
  process.exit(2);
}
const log = openSync(logFile, 'a');
const pause = Number(delayMs ?? 0);
const client = await connect(url);
const consumer = client.queueConsumer({ topic, subscription, prefetch: Number(prefetch) });
for await (const message of consumer) {
  const value = message.value?.toString() ?? '';
  if (value.startsWith('poison')) continue;
  writeSync(log, `ack ${value} ${message.partition} ${message.offset} ${message.deliveryCount}\n`);
  void message.ack().catch(() => {});
  if (pause > 0) await sleep(pause);
}
