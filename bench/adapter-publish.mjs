// W1's publishing loop through bench/peer-adapter.mjs, in this process: how much CPU the
// publishing process spends per message (the side-by-side harness's W1 is bound by it). Keeps
// `--window` messages in flight, builds each 100-byte payload as the harness does, and prints the
// rate and this process's CPU time per message. Starts its broker through the adapter (build
// first: `npm run build`).
//
//   node bench/adapter-publish.mjs [--messages 2000000] [--window 4000]
import { parseArgs } from 'node:util';
import { createAdapter } from './peer-adapter.mjs';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '2000000' },
    window: { type: 'string', default: '4000' },
  },
});
const total = Number(values.messages);
const window = Number(values.window);
for (const [name, value] of Object.entries({ messages: total, window })) {
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
}

const payload = (seq) => {
  const value = Buffer.allocUnsafe(100);
  value.fill(0x61);
  value.writeBigUInt64LE(BigInt(seq), 0);
  return value;
};

const adapter = await createAdapter({ role: 'main' });
try {
  await adapter.setup('log', 'adapter_publish');
  const producer = await adapter.producer('adapter_publish');
  let sent = 0;
  let inFlight = 0;
  let confirmed = 0;
  let failed = null;
  let scheduled = false;
  const startedMs = performance.now();
  const cpuBefore = process.cpuUsage();
  await new Promise((resolve) => {
    const pump = () => {
      scheduled = false;
      while (inFlight < window && sent < total) {
        sent++;
        inFlight++;
        producer.send(payload(sent - 1), onAck);
      }
      producer.flush();
    };
    function onAck(error) {
      inFlight--;
      failed ??= error ?? null;
      if (++confirmed === total) return resolve();
      if (!scheduled) {
        scheduled = true;
        setImmediate(pump);
      }
    }
    pump();
  });
  const cpu = process.cpuUsage(cpuBefore);
  const seconds = (performance.now() - startedMs) / 1000;
  await producer.close();
  await adapter.teardown('adapter_publish');
  if (failed) throw failed;
  console.log(`adapter publish: ${total} × 100 B, ${window} in flight, flush always`);
  console.log(`  ${Math.round(total / seconds).toLocaleString('en-US')} msg/s; publishing process CPU ${((cpu.user + cpu.system) / total).toFixed(2)} µs per message`);
} finally {
  await adapter.close();
}
