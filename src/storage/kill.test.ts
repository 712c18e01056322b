/**
 * A real process appends with flush `always` and reports each acknowledged append; the test
 * SIGKILLs it at random moments, again and again, and checks after every restart that every
 * acknowledged record is present, in order, exactly once.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { decodeBatches } from '../format/record-batch.js';
import { logConfigDefaults } from './config.js';
import { HandlePool } from './handle-pool.js';
import { PartitionLog } from './partition-log.js';
import { seededRandom } from './testing/crash-file-system.js';

const childPath = join(dirname(fileURLToPath(import.meta.url)), 'testing', 'append-child.js');
const root = await mkdtemp(join(tmpdir(), 'weir-kill-test-'));
after(() => rm(root, { recursive: true, force: true }));

interface Ack {
  baseOffset: bigint;
  lastOffset: bigint;
  values: string[];
}

/**
 * Starts the child and kills it `runMs` after its first acknowledgement — or, with `fromStart`,
 * `runMs` after it was started, which may be while it is still recovering the log.
 */
function runAndKill(dir: string, runMs: number, fromStart: boolean): Promise<Ack[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [childPath, dir, '30000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acks: Ack[] = [];
    let pending = '';
    let timer: NodeJS.Timeout | null = null;
    const bound = setTimeout(() => child.kill('SIGKILL'), 20_000);
    if (fromStart) timer = setTimeout(() => child.kill('SIGKILL'), runMs);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        const [kind, base, last, values] = line.split(' ');
        if (kind !== 'ack') continue;
        acks.push({ baseOffset: BigInt(base!), lastOffset: BigInt(last!), values: values!.split(',') });
        timer ??= setTimeout(() => child.kill('SIGKILL'), runMs);
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(bound);
      if (timer !== null) clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`child ended with code ${code} signal ${signal} before it was killed`));
      else resolve(acks);
    });
  });
}

test('SIGKILL at random moments never loses an acknowledged append', { timeout: 100_000 }, async () => {
  const dir = join(root, 'p');
  const random = seededRandom(Date.now() & 0xffff);
  const acked = new Map<bigint, string>();
  const kills = 28;
  for (let round = 0; round < kills; round++) {
    const fromStart = round % 4 === 3;
    const acks = await runAndKill(dir, Math.floor(random() * 250), fromStart);
    if (!fromStart) assert.ok(acks.length > 0, `round ${round}: the child acknowledged nothing`);
    for (let i = 1; i < acks.length; i++) assert.ok(acks[i]!.baseOffset > acks[i - 1]!.lastOffset, 'acks come in offset order');
    for (const ack of acks) {
      assert.equal(ack.lastOffset - ack.baseOffset + 1n, BigInt(ack.values.length));
      ack.values.forEach((value, i) => acked.set(ack.baseOffset + BigInt(i), value));
    }
    await verify(dir, acked);
  }
});

async function verify(dir: string, acked: Map<bigint, string>): Promise<void> {
  const log = await PartitionLog.open(dir, { ...logConfigDefaults, segmentBytesMax: 64 * 1024 }, { handles: new HandlePool({ handlesMax: 8 }), logger: () => undefined });
  try {
    const seen = new Set<string>();
    let offset = log.offsetStart;
    while (offset < log.highWatermark) {
      for (const record of decodeBatches(await log.read(offset, 64 * 1024), { decompressedBytesMax: 1 << 20, offsetMin: offset })) {
        assert.equal(record.offset, offset, 'offsets are contiguous');
        const value = record.value!.toString().replace(/\.+$/, '');
        assert.ok(!seen.has(value), `record ${value} appears twice`);
        seen.add(value);
        const expected = acked.get(offset);
        if (expected !== undefined) assert.equal(value, expected, `acknowledged record at offset ${offset}`);
        offset++;
      }
    }
    const missing = [...acked.keys()].filter((ackedOffset) => ackedOffset >= offset);
    assert.deepEqual(missing, [], 'acknowledged records lost');
  } finally {
    await log.close();
  }
}
