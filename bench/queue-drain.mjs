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
const drainCapMs = 60_000;
const window = 4000;

const payload = (seq) => {
  const value = Buffer.alloc(100, 0x61);
  value.writeUInt32LE(seq, 0);
  return value;
};

async function preload(adapter, topic) {
  const producer = await adapter.producer(topic);
  await new Promise((resolve, reject) => {
    let sent = 0;
    let confirmed = 0;
    let pumping = false;
    const pump = () => {
      pumping = false;
      while (sent - confirmed < window && sent < total) producer.send(payload(sent++), onAck);
      producer.flush();
    };
    function onAck(error) {
      if (error) return reject(error);
      if (++confirmed === total) return resolve();
      if (!pumping && sent < total && sent - confirmed < window / 2) {
        pumping = true;
        setImmediate(pump);
      }
    }
    pump();
  });
  await producer.close();
}

async function drain(adapter, topic) {
  const counts = new Uint8Array(total);
  let unique = 0;
  let duplicates = 0;
  let lastMs = 0;
  let firstMs = 0;
  let done;
  const all = new Promise((resolve) => (done = resolve));
  const consumers = await Promise.all(Array.from({ length: consumerCount }, (_, i) => adapter.consumer(topic, { prefetch, id: `c${i}` })));
  const startMs = performance.now();
  await Promise.all(consumers.map((consumer) => consumer.start((value) => {
    const seq = value.readUInt32LE(0);
    lastMs = performance.now();
    if (firstMs === 0) firstMs = lastMs;
    if (counts[seq]++ === 0) {
      if (++unique === total) done();
    } else duplicates++;
  })));
  const timer = setTimeout(done, drainCapMs);
  const steps = [];
  const ticker = values.timeline ? setInterval(() => steps.push(unique), 100) : undefined;
  await all;
  clearTimeout(timer);
  clearInterval(ticker);
  if (values.timeline) console.log(`  first message after ${(firstMs - startMs).toFixed(1)} ms; per 100 ms: ${steps.map((count, i) => count - (steps[i - 1] ?? 0)).join(' ')}`);
  const seconds = ((unique === total ? lastMs : performance.now()) - startMs) / 1000;
  for (const consumer of consumers) await consumer.stop();
  return { seconds, unique, duplicates };
}

console.log(`queue drain: ${total} × 100 B on one partition, ${consumerCount} consumers, prefetch ${prefetch}, one ack per message, flush always`);
const adapter = await createAdapter({ role: 'main' });
let failed = false;
try {
  for (let round = 1; round <= rounds; round++) {
    const topic = `wq_drain_${round}`;
    await adapter.setup('work', topic);
    await preload(adapter, topic);
    const { seconds, unique, duplicates } = await drain(adapter, topic);
    await adapter.teardown(topic);
    const rate = Math.round(unique / seconds).toLocaleString('en-US');
    console.log(`round ${round}${round === 1 ? ' (fresh broker)' : ''}: ${rate} msg/s, ${seconds.toFixed(3)} s, missing ${total - unique}, duplicates ${duplicates}`);
    if (unique !== total || duplicates > 0) failed = true;
  }
} finally {
  await adapter.close();
}
if (failed) process.exitCode = 1;
