// W4's publish-to-consume latency through Weir, split by when each message was sent: is the tail
// spread over the run or bunched at its start? Starts a broker as bench/peer-adapter.mjs does
// (fresh data directory, flush `always`, warmed by bench/warm-up.mjs), then runs `--runs` rounds,
// each on a fresh topic with a fresh producer process and a fresh consumer process (a consumer
// group of one member, push delivery, offsets committed every second), as the peer harness's W4
// does: `--rate` messages of `--bytes` a second on a 1 ms timer for `--seconds`, each stamped with
// process.hrtime.bigint() just before it is handed to the producer. The second round meets a
// broker already warm from the first; its clients are as cold as the first round's. With
// `--keep-clients` one producer process and one consumer process serve every round, on one topic,
// so that from the second round on neither the broker nor the clients are cold.
//
// Prints, per round, the latency percentiles of all messages and of those sent in the first
// `--early-ms` and after. Build first: `npm run build`.
//
//   node bench/latency-timeline.mjs [--seconds 10] [--rate 5000] [--bytes 1024] [--runs 2] [--early-ms 3000] [--keep-clients]
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { w4LoadOptions, w4LoadSettings } from './w4-load.mjs';

const [role] = process.argv.slice(2);
if (role === 'producer' || role === 'consumer') await runClient(role, JSON.parse(process.argv[3]));
else await main();

async function main() {
  const { values } = parseArgs({
    options: {
      ...w4LoadOptions,
      runs: { type: 'string', default: '2' },
      'early-ms': { type: 'string', default: '3000' },
      'keep-clients': { type: 'boolean', default: false },
    },
  });
  const settings = w4LoadSettings(values, 8); // each message carries its send time
  const earlyMs = Number(values['early-ms']);
  const count = Math.round(settings.seconds * settings.rate);
  const runs = Number(values.runs);
  const keep = values['keep-clients'];
  console.log(`${settings.rate} msg/s of ${settings.bytes} B for ${settings.seconds} s per round, ${runs} rounds on one broker${keep ? ', the same client processes in every round' : ''}; early: sent in the first ${earlyMs} ms`);
  const { createAdapter } = await import('./peer-adapter.mjs');
  const adapter = await createAdapter({ role: 'main' });
  const { port } = JSON.parse(readFileSync(join(tmpdir(), 'weir-peer-adapter.json'), 'utf8')); // where the adapter's broker listens
  const report = (run, rows) => {
    const firstSentNs = rows.reduce((min, [sentNs]) => Math.min(min, sentNs), Number.POSITIVE_INFINITY);
    const early = rows.filter(([sentNs]) => sentNs - firstSentNs < earlyMs * 1e6);
    const late = rows.filter(([sentNs]) => sentNs - firstSentNs >= earlyMs * 1e6);
    console.log(`round ${run} all   ${summary(rows)}`);
    console.log(`round ${run} early ${summary(early)}`);
    console.log(`round ${run} later ${summary(late)}`);
  };
  const nextMessage = (process_) => new Promise((resolve) => process_.once('message', resolve));
  try {
    if (keep) {
      const topic = `timeline-${process.pid}`;
      await adapter.setup('log', topic);
      const consumer = child('consumer', { port, topic, count, rounds: runs });
      await nextMessage(consumer); // joined its group
      const producer = child('producer', { port, topic, count, rounds: runs, ...settings });
      await nextMessage(producer); // connected
      for (let run = 1; run <= runs; run++) {
        const rows = nextMessage(consumer);
        producer.send('go');
        report(run, await rows);
      }
      await Promise.all([exited(producer), exited(consumer)]);
      await adapter.teardown(topic);
    } else {
      for (let run = 1; run <= runs; run++) {
        const topic = `timeline-${process.pid}-${run}`;
        await adapter.setup('log', topic);
        const consumer = child('consumer', { port, topic, count });
        await nextMessage(consumer); // joined its group
        const producer = child('producer', { port, topic, count, ...settings });
        const [rows] = await Promise.all([nextMessage(consumer), exited(producer)]);
        await exited(consumer);
        await adapter.teardown(topic);
        report(run, rows);
      }
    }
  } finally {
    await adapter.close();
  }
}

function summary(rows) {
  const latencies = rows.map(([, latencyNs]) => latencyNs / 1e6).sort((a, b) => a - b);
  const at = (q) => (latencies.length === 0 ? NaN : latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]).toFixed(3);
  const slow = latencies.filter((ms) => ms > 3).length;
  return `n ${latencies.length}: p50 ${at(0.5)} p90 ${at(0.9)} p99 ${at(0.99)} p99.9 ${at(0.999)} max ${at(1)} ms; over 3 ms: ${slow}`;
}

function child(role, options) {
  const process_ = fork(new URL(import.meta.url).pathname, [role, JSON.stringify(options)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const timer = setTimeout(() => process_.kill('SIGKILL'), 120_000 + (options.rounds ?? 1) * (options.count / 100)); // bounded: a stuck round ends
  process_.once('exit', () => clearTimeout(timer));
  return process_;
}

function exited(process_) {
  return process_.exitCode !== null ? Promise.resolve() : new Promise((resolve) => process_.once('exit', resolve));
}

// The producer sends `count` messages a round and the consumer reports each round's rows; with
// `rounds` (--keep-clients) they serve that many rounds, the producer starting each on 'go'.
async function runClient(role, options) {
  const { connect } = await import('../dist/client/index.js');
  const client = await connect(`weir://127.0.0.1:${options.port}`, { clientId: `latency-timeline-${role}` });
  const rounds = options.rounds ?? 1;
  if (role === 'producer') {
    const producer = client.producer({ lingerMs: 1 });
    if (options.rounds !== undefined) process.send('connected');
    for (let round = 0; round < rounds; round++) {
      if (options.rounds !== undefined) await new Promise((resolve) => process.once('message', resolve));
      await sendRound(producer, options);
    }
    await producer.close();
  } else {
    const consumer = client.consumer({ groupId: options.topic, topics: [options.topic], from: 'earliest', prefetchMessages: 100, autoCommitIntervalMs: 1_000 });
    let rows = [];
    let round = 0;
    let done;
    const all = new Promise((resolve) => (done = resolve));
    const running = consumer.run({
      eachMessage: (message) => {
        const sentNs = message.value.readBigInt64LE(0);
        rows.push([Number(sentNs), Number(process.hrtime.bigint() - sentNs)]);
        if (rows.length < options.count) return;
        const full = rows;
        rows = [];
        round++;
        if (round === rounds) done(full);
        else process.send(full);
      },
    });
    await consumer.start?.();
    process.send('joined');
    const last = await all;
    await consumer.close();
    await running.catch(() => {});
    await client.close();
    process.send(last, () => process.exit(0)); // the last round's rows, then done
    return;
  }
  await client.close();
  process.exit(0);
}

function sendRound(producer, options) {
  const perMs = options.rate / 1000;
  const startMs = performance.now();
  let sent = 0;
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(options.count, Math.floor((performance.now() - startMs) * perMs));
      while (sent < due) {
        const value = Buffer.alloc(options.bytes);
        value.writeBigInt64LE(process.hrtime.bigint(), 0);
        producer.sendNoWait(options.topic, { value });
        sent++;
      }
      void producer.flush();
      if (sent >= options.count) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
}
