// Load loops over the peer-adapter surface (bench/peer-adapter.mjs), shared by the queue-drain
// benchmark and the broker warm-up: preload a topic through a producer with a bounded window of
// unacknowledged sends, and drain a queue subscription with competing push consumers, checking
// that every message arrives exactly once.

const window = 4000;
const drainCapMs = 60_000;

/** A `size`-byte payload whose first four bytes are `seq` (uint32 LE), as the harness's. */
export function payload(seq, size = 100) {
  const value = Buffer.alloc(size, 0x61);
  value.writeUInt32LE(seq, 0);
  return value;
}

/** Sends `total` messages of `size` bytes to `topic` and resolves once every one is acknowledged. */
export async function preload(adapter, topic, { total, size = 100 }) {
  const producer = await adapter.producer(topic);
  await new Promise((resolve, reject) => {
    let sent = 0;
    let confirmed = 0;
    let pumping = false;
    const pump = () => {
      pumping = false;
      while (sent - confirmed < window && sent < total) producer.send(payload(sent++, size), onAck);
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

/**
 * Starts `consumers` consumers of `topic` (each with `prefetch`) and resolves when messages with
 * sequence numbers 0 … total-1 have all arrived (or after a minute): the drain time from start to
 * the last message, the unique and duplicate counts, and with `timeline` the unique count every 100 ms.
 */
export async function drain(adapter, topic, { total, consumers: consumerCount, prefetch, timeline = false }) {
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
  const ticker = timeline ? setInterval(() => steps.push(unique), 100) : undefined;
  await all;
  clearTimeout(timer);
  clearInterval(ticker);
  const seconds = ((unique === total ? lastMs : performance.now()) - startMs) / 1000;
  for (const consumer of consumers) await consumer.stop();
  const perStep = steps.map((count, i) => count - (steps[i - 1] ?? 0));
  return { seconds, unique, duplicates, firstMessageMs: firstMs - startMs, perStep };
}
