// W5's drain, repeated on one broker: a fresh queue subscription on a one-partition topic is
// preloaded with `--messages` 100-byte messages, then `--consumers` competing consumers (push,
// `--prefetch` each, every message acknowledged on its own) drain it. The first round runs on a
// fresh broker process, as the side-by-side harness runs W5; later rounds show the same broker once
// its hot paths are compiled. Prints one line per round and checks that every message came exactly
// once. Starts its broker through bench/peer-adapter.mjs (build first: `npm run build`).
//
// `--timeline` also prints how many messages each 100 ms of a round drained (where the warm-up ends).
//
//   node bench/queue-drain.mjs [--rounds 4] [--messages 200000] [--consumers 4] [--prefetch 100] [--timeline]
import { parseArgs } from 'node:util';
import { drain, preload } from './load.mjs';
import { createAdapter } from './peer-adapter.mjs';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '4' },
    messages: { type: 'string', default: '200000' },
    consumers: { type: 'string', default: '4' },
    prefetch: { type: 'string', default: '100' },
    timeline: { type: 'boolean', default: false },
  },
});
const rounds = Number(values.rounds);
const total = Number(values.messages);
const consumerCount = Number(values.consumers);
const prefetch = Number(values.prefetch);
for (const [name, value] of Object.entries({ rounds, messages: total, consumers: consumerCount, prefetch })) {
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
}
console.log(`queue drain: ${total} × 100 B on one partition, ${consumerCount} consumers, prefetch ${prefetch}, one ack per message, flush always`);
const adapter = await createAdapter({ role: 'main', warmUp: false });
let failed = false;
try {
  for (let round = 1; round <= rounds; round++) {
    const topic = `wq_drain_${round}`;
    await adapter.setup('work', topic);
    await preload(adapter, topic, { total });
    const { seconds, unique, duplicates, firstMessageMs, perStep } = await drain(adapter, topic, {
      total,
      consumers: consumerCount,
      prefetch,
      timeline: values.timeline,
    });
    if (values.timeline) console.log(`  first message after ${firstMessageMs.toFixed(1)} ms; per 100 ms: ${perStep.join(' ')}`);
    await adapter.teardown(topic);
    const rate = Math.round(unique / seconds).toLocaleString('en-US');
    console.log(`round ${round}${round === 1 ? ' (fresh broker)' : ''}: ${rate} msg/s, ${seconds.toFixed(3)} s, missing ${total - unique}, duplicates ${duplicates}`);
    if (unique !== total || duplicates > 0) failed = true;
  }
} finally {
  await adapter.close();
}
if (failed) process.exitCode = 1;
