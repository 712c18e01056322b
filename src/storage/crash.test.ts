/**
 * Random operation sequences (append, roll, retention, read, crash, reopen) run against the crash
 * file system and checked against a simple model: the log is always a contiguous run of the
 * appended records in offset order; after a crash every append acknowledged under flush `always`
 * is still there, and nothing that was never appended appears.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeBatches, encodeBatch } from '../format/record-batch.js';
import { logConfigDefaults, type LogConfig } from './config.js';
import { HandlePool } from './handle-pool.js';
import { IndexCache } from './index-cache.js';
import { PartitionLog } from './partition-log.js';
import { CrashFileSystem } from './testing/crash-file-system.js';

type Command =
  | { kind: 'append'; batches: number; records: number; valueBytes: number }
  | { kind: 'settle' }
  | { kind: 'read' }
  | { kind: 'retention' }
  | { kind: 'time'; ms: number }
  | { kind: 'crash' }
  | { kind: 'crashSoon'; operations: number }
  | { kind: 'reopen' };

const commandArbitrary: fc.Arbitrary<Command> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('append' as const), batches: fc.integer({ min: 1, max: 3 }), records: fc.integer({ min: 1, max: 4 }), valueBytes: fc.integer({ min: 0, max: 120 }) }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'settle' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'read' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'retention' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('time' as const), ms: fc.integer({ min: 1, max: 5000 }) }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'crash' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('crashSoon' as const), operations: fc.integer({ min: 1, max: 40 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
);

class Harness {
  readonly disk: CrashFileSystem;
  readonly config: LogConfig;
  log!: PartitionLog;
  /** Value of every record appended so far, by offset (the model). */
  appended: string[] = [];
  /** Timestamp of every record appended so far, by offset (non-decreasing: the clock only moves forward). */
  timestamps: number[] = [];
  /** Offset after the last acknowledged record. */
  ackedEnd = 0;
  inFlight: Promise<unknown>[] = [];
  epoch = 0;
  crashesSeen = 0;
  counter = 0;
  nowMs = 1_000_000;

  constructor(seed: number, config: LogConfig) {
    this.disk = new CrashFileSystem({ seed });
    this.config = config;
  }

  /** True when an armed crash went off (the current log's file system is gone). */
  get crashed(): boolean {
    return this.disk.crashCount !== this.crashesSeen;
  }

  async open(): Promise<void> {
    this.epoch++;
    const fileSystem = this.disk.view();
    this.log = await PartitionLog.open('/data/p0', this.config, {
      fs: fileSystem,
      handles: new HandlePool({ fileSystem, handlesMax: 3 }),
      indexCache: new IndexCache({ memoryBytesMax: 256 }),
      clock: () => this.nowMs,
      logger: () => undefined,
    });
  }

  append(command: Extract<Command, { kind: 'append' }>): void {
    const parts: Buffer[] = [];
    const values: string[] = [];
    for (let b = 0; b < command.batches; b++) {
      const records = Array.from({ length: command.records }, () => {
        const value = `v${this.counter++}:`.padEnd(command.valueBytes, 'x');
        values.push(value);
        return { value: Buffer.from(value), timestamp: this.nowMs };
      });
      parts.push(encodeBatch(records));
    }
    const epoch = this.epoch;
    const promise = this.log.append(Buffer.concat(parts)).then(
      (result) => {
        if (epoch === this.epoch) this.ackedEnd = Math.max(this.ackedEnd, Number(result.lastOffset) + 1);
      },
      () => undefined,
    );
    this.appended.push(...values);
    for (let i = 0; i < values.length; i++) this.timestamps.push(this.nowMs);
    this.inFlight.push(promise);
  }

  async settle(): Promise<void> {
    await Promise.all(this.inFlight.splice(0));
  }

  /** Everything readable is a contiguous run of the model's records. */
  async check(): Promise<void> {
    const log = this.log;
    let offset = log.offsetStart;
    const end = log.highWatermark;
    while (offset < end) {
      const bytes = await log.read(offset, 300);
      assert.ok(bytes.length > 0, `empty read at ${offset} below the high watermark ${end}`);
      for (const record of decodeBatches(bytes, { decompressedBytesMax: 1 << 20, offsetMin: offset })) {
        assert.equal(record.offset, offset, 'offsets are contiguous');
        assert.equal(record.value!.toString(), this.appended[Number(offset)], `record at offset ${offset}`);
        offset++;
      }
    }
    assert.ok(offset >= end);
    await this.checkTimeLookup(end);
  }

  /** offsetForTimestamp agrees with the model for a few probes. */
  async checkTimeLookup(end: bigint): Promise<void> {
    const start = Number(this.log.offsetStart);
    if (Number(end) <= start) return;
    for (const probe of [this.timestamps[start]!, this.timestamps[Number(end) - 1]!, this.timestamps[Math.floor((start + Number(end)) / 2)]! + 1]) {
      const expected = this.timestamps.findIndex((timestamp, offset) => offset >= start && timestamp >= probe);
      const readableBefore = Number(this.log.highWatermark);
      const found = await this.log.offsetForTimestamp(probe);
      if (expected < 0) {
        assert.equal(found, null, `no record at or after ${probe}`);
      } else if (expected >= readableBefore && found === null) {
        // The match was not readable yet when the lookup began (an append still in flight).
      } else {
        assert.deepEqual(found, { offset: BigInt(expected), timestampMs: this.timestamps[expected] }, `lookup of ${probe}`);
      }
    }
  }

  async crashAndReopen(durableAcks: boolean): Promise<void> {
    if (this.disk.crashCount === this.crashesSeen) this.disk.crash();
    this.crashesSeen = this.disk.crashCount;
    const old = this.log;
    await Promise.all(this.inFlight.splice(0));
    await old.close().catch(() => undefined);
    await this.open();
    const end = Number(this.log.offsetEnd);
    assert.equal(this.log.highWatermark, this.log.offsetEnd);
    assert.ok(end <= this.appended.length, `log end ${end} is past the ${this.appended.length} records ever appended`);
    if (durableAcks) assert.ok(end >= this.ackedEnd, `acknowledged records lost: log ends at ${end}, acks reached ${this.ackedEnd}`);
    this.appended.length = end;
    this.timestamps.length = end;
    this.ackedEnd = Math.min(this.ackedEnd, end);
    await this.check();
  }

  async cleanReopen(): Promise<void> {
    await this.settle();
    const end = this.log.offsetEnd;
    await this.log.close();
    await this.open();
    assert.equal(this.log.offsetEnd, end, 'a clean close keeps everything');
    await this.check();
  }
}

async function runSequence(seed: number, flush: 'always' | 'none', commands: Command[]): Promise<void> {
  const config: LogConfig = {
    ...logConfigDefaults,
    segmentBytesMax: 700,
    segmentAgeMsMax: 20_000,
    indexIntervalBytes: 150,
    retentionBytes: 2500,
    retentionMs: 60_000,
    flush: { kind: flush },
  };
  const harness = new Harness(seed, config);
  await harness.open();
  for (const command of commands) {
    if (harness.crashed) await harness.crashAndReopen(flush === 'always');
    switch (command.kind) {
      case 'append':
        harness.append(command);
        break;
      case 'settle':
        await harness.settle();
        break;
      case 'read':
        await harness.check().catch(ignoreIfCrashed);
        break;
      case 'retention':
        await harness.log.applyRetention().catch(ignoreIfCrashed);
        await harness.check().catch(ignoreIfCrashed);
        break;
      case 'crashSoon':
        harness.disk.crashAfter(command.operations);
        break;
      case 'time':
        harness.nowMs += command.ms;
        break;
      case 'crash':
        await harness.crashAndReopen(flush === 'always');
        break;
      case 'reopen':
        await harness.cleanReopen().catch(ignoreIfCrashed);
        break;
    }
  }
  function ignoreIfCrashed(error: unknown): void {
    if (!harness.crashed) throw error;
  }
  await harness.crashAndReopen(flush === 'always');
  await harness.cleanReopen();
  await harness.log.close();
}

test('random append / roll / retention / crash sequences keep every acknowledged append (flush always)', async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 30 }), fc.array(commandArbitrary, { minLength: 1, maxLength: 60 }), (seed, commands) =>
      runSequence(seed, 'always', commands),
    ),
    { numRuns: 150 },
  );
});

test('random sequences under flush none recover a contiguous prefix of what was appended', async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 30 }), fc.array(commandArbitrary, { minLength: 1, maxLength: 60 }), (seed, commands) =>
      runSequence(seed, 'none', commands),
    ),
    { numRuns: 80 },
  );
});

test('the crash file system loses unsynced writes and directory entries, keeps synced and durable ones', async () => {
  let sawTorn = false;
  let sawLostFile = false;
  for (let seed = 1; seed <= 40; seed++) {
    const disk = new CrashFileSystem({ seed });
    const fileSystem = disk.view();
    await fileSystem.mkdir('/d');
    const synced = await fileSystem.open('/d/synced', 'create');
    await fileSystem.write(synced, [Buffer.from('durable')], 0);
    await fileSystem.fdatasync(synced);
    await fileSystem.fsyncDirectory('/d');
    await fileSystem.write(synced, [Buffer.from('-tail-data')], 7);
    const durable = await fileSystem.open('/d/synced-entry', 'create');
    await fileSystem.close(durable);
    await fileSystem.fsyncDirectory('/d');
    const durableWrites = await fileSystem.open('/d/synced-entry', 'readWriteDurable');
    await fileSystem.write(durableWrites, [Buffer.from('kept')], 0);
    const lost = await fileSystem.open('/d/unsynced-entry', 'create');
    await fileSystem.write(lost, [Buffer.from('x')], 0);
    await fileSystem.fdatasync(lost);
    disk.crash();
    await assert.rejects(fileSystem.stat('/d/synced'), /crashed/);
    const content = disk.contentOf('/d/synced')!.toString();
    assert.ok(content.startsWith('durable') && '-tail-data'.startsWith(content.slice(7)), content);
    if (content.length > 7 && content.length < 17) sawTorn = true;
    assert.equal(disk.contentOf('/d/synced-entry')?.toString(), 'kept', 'a write through an O_DSYNC descriptor is durable when it returns');
    if (disk.contentOf('/d/unsynced-entry') === null) sawLostFile = true;
  }
  assert.ok(sawTorn, 'some crash tore the unsynced write');
  assert.ok(sawLostFile, 'some crash lost a file whose directory entry was never synced');
});
