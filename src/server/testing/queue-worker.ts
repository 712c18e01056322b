/**
 * For tests: a queue consumer process that tests SIGKILL while it holds leases. It prints
 * `ack <value>` before acknowledging each message, and holds (never settles) every message whose
 * value starts with `poison`, so those fail once per worker that dies holding them.
 *
 *   node dist/server/testing/queue-worker.js URL TOPIC SUBSCRIPTION PREFETCH
 */
import { connect } from '../../client/index.js';

const [url, topic, subscription, prefetch] = process.argv.slice(2);
if (url === undefined || topic === undefined || subscription === undefined) {
  process.stderr.write('usage: queue-worker URL TOPIC SUBSCRIPTION [PREFETCH]\n');
  process.exit(2);
}
const client = await connect(url);
const consumer = client.queueConsumer({ topic, subscription, prefetch: Number(prefetch ?? 50) });
process.stdout.write('ready\n');
for await (const message of consumer) {
  const value = message.value?.toString() ?? '';
  if (value.startsWith('poison')) continue;
  process.stdout.write(`ack ${value}\n`);
  void message.ack().catch(() => {});
}
