// The Kafka-compatible listener against the native protocol, in one run on one fresh broker:
// librdkafka (kcat) produces and consumes N lines through the Kafka listener, the `weir` CLI
// (the Weir client) produces and consumes the same N lines through the native protocol.
// Both sides are command-line programs reading stdin and writing stdout, both acknowledge after
// fdatasync (flush `always`, kcat's default acks=all), both with a warm page cache.
//
//   npm run build && node bench/kafka-vs-native.mjs [messages=1000000] [messageBytes=100] [reps=3]
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(repo, 'dist/cli/main.js');
const messages = Number(process.argv[2] ?? 1_000_000);
const messageBytes = Number(process.argv[3] ?? 100);
const reps = Number(process.argv[4] ?? 3);
const work = mkdtempSync(join(tmpdir(), 'weir-kafka-bench-'));

function run(command, args, { input } = {}) {
  return new Promise((resolveRun, rejectRun) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, { stdio: [input ? openSync(input, 'r') : 'ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      code === 0 ? resolveRun(seconds) : rejectRun(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr.slice(-500)}`));
    });
  });
}

function startBroker() {
  const child = spawn(process.execPath, [cli, 'start', '--port', '0', '--kafka-port', '0', '--data-dir', join(work, 'data')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return new Promise((resolveStart, rejectStart) => {
    let text = '';
    child.stderr.on('data', (chunk) => {
      text += chunk;
      const match = /native protocol on [^:]+:(\d+), Kafka protocol on [^:]+:(\d+)/.exec(text);
      if (match) resolveStart({ child, native: Number(match[1]), kafka: Number(match[2]) });
    });
    child.on('exit', (code) => rejectStart(new Error(`broker exited ${code}: ${text}`)));
  });
}

const line = 'x'.repeat(messageBytes - 1) + '\n';
const input = join(work, 'input.txt');
writeFileSync(input, line.repeat(messages));
const broker = await startBroker();
const kafka = ['-b', `127.0.0.1:${broker.kafka}`, '-q'];
const server = ['--server', `127.0.0.1:${broker.native}`];
const rate = (seconds) => Math.round(messages / seconds);
const rows = [];
try {
  for (let rep = 0; rep < reps; rep++) {
    const kafkaTopic = `kafka_${rep}`;
    const nativeTopic = `native_${rep}`;
    for (const topic of [kafkaTopic, nativeTopic]) await run(process.execPath, [cli, 'topic', 'create', topic, '--partitions', '1', ...server]);
    const kafkaProduce = await run('kcat', [...kafka, '-P', '-t', kafkaTopic, '-X', 'linger.ms=5', '-X', 'batch.size=1000000'], { input });
    const nativeProduce = await run(process.execPath, [cli, 'produce', nativeTopic, ...server], { input });
    const kafkaConsume = await run('kcat', [...kafka, '-C', '-t', kafkaTopic, '-o', 'beginning', '-c', String(messages), '-e']);
    const nativeConsume = await run(process.execPath, [cli, 'consume', nativeTopic, '--from', 'earliest', '--count', String(messages), ...server]);
    rows.push({ kafkaProduce: rate(kafkaProduce), nativeProduce: rate(nativeProduce), kafkaConsume: rate(kafkaConsume), nativeConsume: rate(nativeConsume) });
    process.stderr.write(`rep ${rep + 1}/${reps}: ${JSON.stringify(rows.at(-1))}\n`);
  }
} finally {
  broker.child.kill('SIGTERM');
  await new Promise((r) => broker.child.once('exit', r));
  rmSync(work, { recursive: true, force: true });
}

const median = (key) => rows.map((r) => r[key]).sort((a, b) => a - b)[Math.floor(rows.length / 2)];
const result = {
  messages,
  messageBytes,
  reps,
  produce: { kafkaMsgsPerSec: median('kafkaProduce'), nativeMsgsPerSec: median('nativeProduce') },
  consume: { kafkaMsgsPerSec: median('kafkaConsume'), nativeMsgsPerSec: median('nativeConsume') },
};
result.produce.ratio = +(result.produce.kafkaMsgsPerSec / result.produce.nativeMsgsPerSec).toFixed(2);
result.consume.ratio = +(result.consume.kafkaMsgsPerSec / result.consume.nativeMsgsPerSec).toFixed(2);
console.log(`Kafka listener (kcat, librdkafka) vs native protocol (weir CLI): ${messages} x ${messageBytes} B, 1 partition, flush always, median of ${reps}`);
console.log(`produce  kafka ${result.produce.kafkaMsgsPerSec.toLocaleString()} msg/s   native ${result.produce.nativeMsgsPerSec.toLocaleString()} msg/s   kafka/native ${result.produce.ratio}`);
console.log(`consume  kafka ${result.consume.kafkaMsgsPerSec.toLocaleString()} msg/s   native ${result.consume.nativeMsgsPerSec.toLocaleString()} msg/s   kafka/native ${result.consume.ratio}`);
console.log(JSON.stringify(result));
