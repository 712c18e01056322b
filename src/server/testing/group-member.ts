/**
 * Test support: one consumer-group member as its own process. Prints `partition offset value`
 * for every message it handles; commits automatically every 200 ms; on SIGTERM closes cleanly
 * (which commits). Usage: node group-member.js URL GROUP TOPIC
 */
import { connect } from '../../client/index.js';

const [url, groupId, topic] = process.argv.slice(2) as [string, string, string];
const client = await connect(url, { reconnectBackoffMsMax: 200 });
const consumer = client.consumer({ groupId, topics: [topic], from: 'earliest', autoCommitIntervalMs: 200, sessionTimeoutMs: 3_000, heartbeatIntervalMs: 300 });
process.on('SIGTERM', () => {
  void consumer.close().then(() => client.close()).then(() => process.exit(0));
});
process.stdout.write('ready\n');
for await (const message of consumer) {
  process.stdout.write(`${message.partition} ${message.offset} ${message.value!.toString()}\n`);
}
