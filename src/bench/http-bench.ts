/**
 * HTTP produce benchmark (`npm run bench:http`): POST /v1/topics/{topic}/messages with batches of
 * `--batch` messages (default 100) of `--size` bytes over `--connections` keep-alive connections
 * (default 8), each connection sending its next request as soon as the previous one is answered
 * (acks leader: the answer comes after the append is durable under the topic's flush policy).
 *
 * By default it starts the real broker (`weir start`) as a child process on a temporary data
 * directory, so client and broker do not share an event loop; `--url http://host:port` measures
 * a broker that is already running instead. Prints its settings, messages per second, MB/s and
 * request latency percentiles; the last line is one JSON object with the same figures.
 *
 *   node dist/bench/http-bench.js [--url U] [--connections N] [--batch N] [--size BYTES]
 *     [--seconds S] [--partitions N] [--flush always|none|interval:MS] [--topic NAME]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startBrokerProcess, type BrokerProcess } from '../server/testing/broker-process.js';

interface Settings {
  url: string | null;
  connections: number;
  batch: number;
  sizeBytes: number;
  seconds: number;
  warmupSeconds: number;
  partitions: number;
  flush: string;
  topic: string;
}

function settingsFrom(argv: string[]): Settings {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string' },
      connections: { type: 'string' },
      batch: { type: 'string' },
      size: { type: 'string' },
      seconds: { type: 'string' },
      partitions: { type: 'string' },
      flush: { type: 'string' },
      topic: { type: 'string' },
    },
    strict: true,
  });
  const integer = (name: string, text: string | undefined, fallback: number, min: number, max: number): number => {
    const value = text === undefined ? fallback : Number(text);
    if (!Number.isSafeInteger(value) || value < min || value > max) throw new Error(`--${name} must be an integer from ${min} to ${max}`);
    return value;
  };
  return {
    url: values.url ?? null,
    connections: integer('connections', values.connections, 8, 1, 1024),
    batch: integer('batch', values.batch, 100, 1, 10_000),
    sizeBytes: integer('size', values.size, 100, 0, 1_000_000),
    seconds: integer('seconds', values.seconds, 10, 1, 600),
    warmupSeconds: 2,
    partitions: integer('partitions', values.partitions, 4, 1, 10_000),
    flush: values.flush ?? 'always',
    topic: values.topic ?? `http-bench-${process.pid}`,
  };
}

/** One request body: `batch` messages with distinct keys and a value of `sizeBytes` characters. */
function produceBody(settings: Settings, worker: number): Buffer {
  const value = 'x'.repeat(settings.sizeBytes);
  const messages = Array.from({ length: settings.batch }, (_, i) => ({ key: `k-${worker}-${i}`, value }));
  return Buffer.from(JSON.stringify({ messages }));
}

interface Answer {
  status: number;
  body: string;
}

function post(agent: Agent, url: URL, body: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function createTopic(base: string, settings: Settings): Promise<void> {
  const response = await fetch(`${base}/v1/topics`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: settings.topic, partitions: settings.partitions, config: { flush: settings.flush } }),
  });
  if (response.status !== 201 && response.status !== 409) throw new Error(`creating ${settings.topic}: ${response.status} ${await response.text()}`);
}

interface Run {
  messages: number;
  requests: number;
  latenciesMs: number[];
  elapsedMs: number;
}

/** Every connection sends back-to-back until the deadline; only requests started after the warm-up count. */
async function run(base: string, settings: Settings): Promise<Run> {
  const agent = new Agent({ keepAlive: true, maxSockets: settings.connections });
  const url = new URL(`${base}/v1/topics/${encodeURIComponent(settings.topic)}/messages`);
  const started = performance.now();
  const measureFrom = started + settings.warmupSeconds * 1000;
  const deadline = measureFrom + settings.seconds * 1000;
  const result: Run = { messages: 0, requests: 0, latenciesMs: [], elapsedMs: 0 };
  const worker = async (index: number): Promise<void> => {
    const body = produceBody(settings, index);
    for (;;) {
      const sent = performance.now();
      if (sent >= deadline) return;
      const answer = await post(agent, url, body);
      if (answer.status !== 200) throw new Error(`produce answered ${answer.status}: ${answer.body.slice(0, 300)}`);
      if (sent >= measureFrom) {
        result.messages += settings.batch;
        result.requests++;
        result.latenciesMs.push(performance.now() - sent);
      }
    }
  };
  await Promise.all(Array.from({ length: settings.connections }, (_, i) => worker(i)));
  result.elapsedMs = performance.now() - measureFrom;
  agent.destroy();
  return result;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const settings = settingsFrom(process.argv.slice(2));
  let broker: BrokerProcess | null = null;
  let dataDir: string | null = null;
  let base = settings.url;
  if (base === null) {
    dataDir = mkdtempSync(join(tmpdir(), 'weir-http-bench-'));
    broker = await startBrokerProcess(dataDir); // logs at info: the ready line carries the ports
    base = `http://127.0.0.1:${broker.httpPort}`;
  }
  try {
    await createTopic(base, settings);
    const { messages, requests, latenciesMs, elapsedMs } = await run(base, settings);
    latenciesMs.sort((a, b) => a - b);
    const seconds = elapsedMs / 1000;
    const round = (n: number, digits = 2): number => Number(n.toFixed(digits));
    const figures = {
      messagesPerSecond: Math.round(messages / seconds),
      requestsPerSecond: round(requests / seconds, 1),
      valueMBps: round((messages * settings.sizeBytes) / seconds / 1e6),
      latencyMs: {
        p50: round(percentile(latenciesMs, 50)),
        p90: round(percentile(latenciesMs, 90)),
        p99: round(percentile(latenciesMs, 99)),
        max: round(latenciesMs.at(-1) ?? 0),
      },
    };
    console.log(`HTTP produce: ${settings.connections} keep-alive connections, ${settings.batch} messages of ${settings.sizeBytes} B per request (keyed),`);
    console.log(`  topic ${settings.topic} with ${settings.partitions} partitions, flush ${settings.flush}, ${settings.seconds} s measured after ${settings.warmupSeconds} s warm-up, broker ${settings.url ?? 'child process (weir start)'}`);
    console.log(`  ${figures.messagesPerSecond.toLocaleString('en')} msg/s, ${figures.requestsPerSecond} requests/s, ${figures.valueMBps} MB/s of values`);
    console.log(`  request latency ms: p50 ${figures.latencyMs.p50}, p90 ${figures.latencyMs.p90}, p99 ${figures.latencyMs.p99}, max ${figures.latencyMs.max} (${requests} requests)`);
    console.log(JSON.stringify({ settings, messages, requests, ...figures }));
  } finally {
    if (broker !== null) await broker.stop();
    if (dataDir !== null) rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
