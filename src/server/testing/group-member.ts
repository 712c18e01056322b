/**
 * Test support: one consumer-group member as its own process. Appends `partition offset value` to
 * LOG_FILE for every message it handles (with a plain write(2), which a SIGKILL cannot undo once it
 * returned: a line written to a pipe through process.stdout may still wait in the process); prints
 * `ready` once consuming; commits automatically every 200 ms; on SIGTERM closes cleanly (which
 * commits). Usage: node group-member.js URL GROUP TOPIC LOG_FILE
 */
import { openSync, writeSync } from 'node:fs';
import { connect } from '../../client/index.js';

const [url, groupId, topic, logFile] = process.argv.slice(2) as [string, string, string, string];
const log = openSync(logFile, 'a');
const client = await connect(url, { reconnectBackoffMsMax: 200 });
const consumer = client.consumer({ groupId, topics: [topic], from: 'earliest', autoCommitIntervalMs: 200, sessionTimeoutMs: 3_000, heartbeatIntervalMs: 300 });
process.on('SIGTERM', () => {
  void consumer.close().then(() => client.close()).then(() => process.exit(0));
});
process.stdout.write('ready\n');
for await (const message of consumer) {
  writeSync(log, `${message.partition} ${message.offset} ${message.value!.toString()}\n`);
}
