// The floor under W4's publish-to-consume latency on this machine, without any broker: three Node
// processes (producer, relay, consumer) on loopback TCP, the producer sending `--rate` messages of
// `--bytes` a second on a 1 ms timer (W4: 5,000 of 1 KiB), each stamped with
// process.hrtime.bigint() just before it is written, as the peer harness stamps them. The relay
// forwards what it reads to the consumer:
//   - `none`: at once;
//   - `o_dsync`: after writing it through an O_DSYNC descriptor into blocks written before (one
//     write in flight; what arrives meanwhile goes in the next write): the least a broker that
//     delivers only durable messages must wait;
//   - `log`: the same, but into a new file that grows as Weir's log grows its segments under
//     flush `always`: a write that would grow the file carries zeros after it
//     (`preallocationBytes` of src/storage/partition-log.ts; build first, `npm run build`).
// Prints the consumer's latency percentiles for each, alternating them `--rounds` times. The
// relay does no other work, so what Weir adds is the rest: decoding, validation, the offsets and
// acknowledgements, and the client libraries on both ends.
//
//   node bench/latency-floor.mjs [--seconds 10] [--rate 5000] [--bytes 1024] [--rounds 2] [--dir DIR]
import { fork } from 'node:child_process';
import { closeSync, constants, fdatasyncSync, mkdtempSync, openSync, rmSync, write, writeSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { preallocationBytes } from '../dist/storage/partition-log.js';
import { w4LoadOptions, w4LoadSettings } from './w4-load.mjs';

const [role] = process.argv.slice(2);
const roles = { relay, consumer, producer };
if (role in roles) await roles[role](JSON.parse(process.argv[3]));
else await main();

async function main() {
  const { values } = parseArgs({
    options: {
      ...w4LoadOptions,
      rounds: { type: 'string', default: '2' },
      dir: { type: 'string', default: tmpdir() },
    },
  });
  const settings = w4LoadSettings(values, 16);
  const rounds = Number(values.rounds);
  if (!(rounds > 0)) throw new Error('--rounds must be positive');
  const dir = mkdtempSync(join(values.dir, 'weir-floor-'));
  console.log(`${settings.rate} msg/s of ${settings.bytes} B for ${settings.seconds} s, producer -> relay -> consumer on loopback; data in ${dir}`);
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const mode of ['none', 'o_dsync', 'log']) {
        const result = await once({ ...settings, mode, path: join(dir, 'log') });
        const ms = (value) => value.toFixed(3);
        console.log(`round ${round} ${mode.padEnd(7)} n ${result.n}: p50 ${ms(result.p50)} p90 ${ms(result.p90)} p99 ${ms(result.p99)} p99.9 ${ms(result.p999)} max ${ms(result.max)} ms`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One run of the three processes; resolves with the consumer's percentiles. */
async function once(settings) {
  const children = [];
  const start = (name, extra) => {
    const child = fork(process.argv[1], [name, JSON.stringify({ ...settings, ...extra })]);
    children.push(child);
    return child;
  };
  const next = (child) =>
    new Promise((resolve, reject) => {
      child.once('message', resolve);
      child.once('exit', (code) => reject(new Error(`a ${child.spawnargs[2]} process exited with ${code}`)));
    });
  try {
    const relayProcess = start('relay', {});
    const { port } = await next(relayProcess);
    const consumerProcess = start('consumer', { port });
    await next(consumerProcess);
    const result = next(consumerProcess);
    start('producer', { port });
    return await result;
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill();
  }
}

/** Accepts the consumer (first byte 'C') and the producer (first byte 'P'); forwards per `mode`. */
async function relay({ mode, path, rate, seconds, bytes }) {
  const fileBytes = Math.ceil((rate * seconds * bytes * 1.2) / (1 << 20)) << 20;
  const zeros = Buffer.alloc(1 << 20);
  let fd = openSync(path, 'w');
  // `o_dsync`: blocks written and synced before. `log`: an empty file, grown by the writes.
  if (mode === 'o_dsync') for (let at = 0; at < fileBytes; at += zeros.length) writeSync(fd, zeros, 0, zeros.length, at);
  fdatasyncSync(fd);
  closeSync(fd);
  fd = openSync(path, constants.O_RDWR | constants.O_DSYNC);
  let fileEnd = 0;
  let consumerSocket = null;
  let position = 0;
  let pending = [];
  let writing = false;
  const forward = (chunks) => {
    for (const chunk of chunks) consumerSocket?.write(chunk);
  };
  const writeNext = () => {
    if (writing || pending.length === 0) return;
    const group = pending;
    pending = [];
    const data = group.length === 1 ? group[0] : Buffer.concat(group);
    writing = true;
    const at = mode === 'log' ? position : position % (fileBytes - data.length);
    const ahead = mode === 'log' && at + data.length > fileEnd ? preallocationBytes(data.length) : 0;
    const written = ahead === 0 ? data : Buffer.concat([data, zeros.subarray(0, ahead)]);
    write(fd, written, 0, written.length, at, (error) => {
      if (error) throw error;
      fileEnd = Math.max(fileEnd, at + written.length);
      position += data.length;
      writing = false;
      forward(group);
      writeNext();
    });
  };
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    socket.once('data', (first) => {
      if (first[0] === 0x43) {
        consumerSocket = socket;
        return;
      }
      const onData = (chunk) => {
        if (mode === 'none') forward([chunk]);
        else {
          pending.push(chunk);
          writeNext();
        }
      };
      socket.on('data', onData);
      if (first.length > 1) onData(first.subarray(1));
    });
  });
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
}

/** Reads whole messages, notes each one's latency; reports once the producer's count arrived. */
async function consumer({ port, rate, seconds, bytes }) {
  const expected = rate * seconds;
  const latencies = new Float64Array(expected);
  let n = 0;
  let carry = Buffer.alloc(0);
  const socket = createConnection(port, '127.0.0.1', () => {
    socket.setNoDelay(true);
    socket.write('C');
    process.send({ ready: true });
  });
  socket.on('data', (chunk) => {
    const now = process.hrtime.bigint();
    const data = carry.length === 0 ? chunk : Buffer.concat([carry, chunk]);
    let at = 0;
    for (; at + bytes <= data.length && n < expected; at += bytes) latencies[n++] = Number(now - data.readBigUInt64LE(at + 8)) / 1e6;
    carry = data.subarray(at);
    if (n === expected) {
      latencies.sort();
      const q = (f) => latencies[Math.min(n - 1, Math.floor(f * n))];
      process.send({ n, p50: q(0.5), p90: q(0.9), p99: q(0.99), p999: q(0.999), max: latencies[n - 1] });
      socket.destroy();
    }
  });
}

/** Sends what is due every millisecond, one write per tick, each message stamped as it is made. */
async function producer({ port, rate, seconds, bytes }) {
  const total = rate * seconds;
  const filler = Buffer.alloc(bytes, 0x5a);
  const socket = createConnection(port, '127.0.0.1', () => {
    socket.setNoDelay(true);
    socket.write('P');
    const started = performance.now();
    let sent = 0;
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - started) * rate) / 1000));
      if (due <= sent) return;
      const messages = [];
      for (; sent < due; sent++) {
        const message = Buffer.allocUnsafe(bytes);
        filler.copy(message);
        message.writeUInt32LE(sent, 0);
        message.writeBigUInt64LE(process.hrtime.bigint(), 8);
        messages.push(message);
      }
      socket.write(messages.length === 1 ? messages[0] : Buffer.concat(messages));
      if (sent === total) clearInterval(timer);
    }, 1);
  });
}
