/**
 * A child process for the SIGKILL test: opens the partition log in `argv[2]` with flush `always`
 * and appends small batches from several concurrent appenders until it is killed, printing one line
 * per acknowledged append (`ack <baseOffset> <lastOffset> <value>,<value>,…`) to stdout. Stdout is a
 * pipe, which Node writes synchronously on Linux, so a printed ack has left the process.
 * Exits by itself after `argv[3]` milliseconds (a bound in case the test dies first).
 */
import { encodeBatch } from '../../format/record-batch.js';
import { logConfigDefaults } from '../config.js';
import { PartitionLog } from '../partition-log.js';

const dir = process.argv[2]!;
const lifetimeMs = Number(process.argv[3] ?? 20_000);
const appenders = 8;

const log = await PartitionLog.open(dir, { ...logConfigDefaults, segmentBytesMax: 64 * 1024, indexIntervalBytes: 512 });
process.stdout.write(`open ${log.offsetStart} ${log.offsetEnd}\n`);
setTimeout(() => process.exit(0), lifetimeMs).unref();
let counter = 0;

async function appender(id: number): Promise<void> {
  for (;;) {
    const count = 1 + (counter % 5);
    const values = Array.from({ length: count }, () => `${process.pid}-${id}-${counter++}`);
    const batch = encodeBatch(values.map((value) => ({ value: Buffer.from(value.padEnd(60, '.')), timestamp: Date.now() })));
    const result = await log.append(batch);
    process.stdout.write(`ack ${result.baseOffset} ${result.lastOffset} ${values.join(',')}\n`);
  }
}

await Promise.all(Array.from({ length: appenders }, (_, id) => appender(id)));
