// Warms a freshly started broker's code before it is measured: the peer adapter runs this in a
// child process (so the measuring process's own client code stays as cold as the peers' clients)
// once the broker listens. The peers in the side-by-side harness are long-running servers whose hot
// paths were compiled by earlier runs; a fresh Node.js process runs its first second of traffic in
// V8's interpreter and baseline tiers while TurboFan compiles on the same two cores.
//
// Scratch topics only, deleted afterwards: the log path (1 KiB messages produced while a push
// consumer group reads them, then a second of 5,000 msg/s in single-message groups as in W4) and
// the queue path (100-byte messages preloaded, then drained by four competing push consumers with
// per-message acknowledgements, three rounds as in W5). Prints one line per phase to stderr.
//
//   node bench/warm-up.mjs      (attaches to the broker in the adapter's address file)
import { drain, payload, preload } from './load.mjs';
import { createAdapter } from './peer-adapter.mjs';

const logMessages = 50_000;
const pacedMs = 1_000;
const pacedPerMs = 5;
const queueMessages = 100_000;
const queueRounds = 3;

const adapter = await createAdapter({ role: 'warm-up' });
const startedMs = performance.now();
const say = (text) => process.stderr.write(`warm-up: ${text} (${Math.round(performance.now() - startedMs)} ms)\n`);

async function logPath() {
  const topic = 'weir_warm_up_log';
  await adapter.setup('log', topic);
  const consumer = await adapter.consumer(topic, { prefetch: 1000, id: 'c0' });
  let received = 0;
  let target = logMessages;
  let reached;
  const check = () => received >= target && reached?.();
  await consumer.start(() => {
    received++;
    check();
  });
  const until = (count) => new Promise((resolve) => { target = count; reached = resolve; check(); });
  await preload(adapter, topic, { total: logMessages, size: 1024 });
  await until(logMessages);
  say(`log: ${logMessages} × 1 KiB produced and consumed`);
  const producer = await adapter.producer(topic);
  let sent = 0;
  await new Promise((resolve, reject) => {
    const endMs = performance.now() + pacedMs;
    const timer = setInterval(() => {
      for (let i = 0; i < pacedPerMs; i++) producer.send(payload(sent++, 1024), (error) => error && reject(error));
      producer.flush();
      if (performance.now() >= endMs) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
  await producer.close();
  await until(logMessages + sent);
  say(`log: ${sent} more at ${pacedPerMs * 1000} msg/s`);
  await consumer.stop();
  await adapter.teardown(topic);
}

async function queuePath() {
  for (let round = 1; round <= queueRounds; round++) {
    const topic = 'weir_warm_up_queue';
    await adapter.setup('work', topic);
    await preload(adapter, topic, { total: queueMessages });
    const { unique } = await drain(adapter, topic, { total: queueMessages, consumers: 4, prefetch: 100 });
    await adapter.teardown(topic);
    say(`queue round ${round}: ${unique} of ${queueMessages} drained`);
  }
}

try {
  await logPath();
  await queuePath();
} finally {
  await adapter.close();
}
