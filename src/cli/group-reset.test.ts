/**
 * `weir group reset-offsets` end to end: a real broker process, the real CLI, and a group consumer
 * that reads from where the reset put the group.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { cliPath, runCli, startBroker, type BrokerProcess } from './testing/cli-process.js';

let broker: BrokerProcess;

before(async () => {
  broker = await startBroker();
});

after(async () => {
  await broker?.stop();
});

const weir = (args: string[], input?: string) => runCli(args, { input, server: broker.address });
const lines = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `m${from + i}`);

async function committed(group: string): Promise<Map<number, number>> {
  const described = await weir(['group', 'describe', group, '--json']);
  assert.equal(described.code, 0, described.stderr);
  const offsets = (JSON.parse(described.stdout) as { offsets: { partition: number; offset: number }[] }).offsets;
  return new Map(offsets.map((o) => [o.partition, Number(o.offset)]));
}

describe('weir group reset-offsets', () => {
  before(async () => {
    assert.equal((await weir(['topic', 'create', 'ledger', '--partitions', '1'])).code, 0);
    assert.equal((await weir(['produce', 'ledger'], `${lines(0, 10).join('\n')}\n`)).code, 0);
    const read = await weir(['consume', 'ledger', '--group', 'auditors', '--from', 'earliest', '--count', '10']);
    assert.equal(read.code, 0, read.stderr);
  });

  test('--to earliest makes the next member read everything again', async () => {
    const reset = await weir(['group', 'reset-offsets', 'auditors', '--topic', 'ledger', '--to', 'earliest']);
    assert.equal(reset.code, 0, reset.stderr);
    assert.match(reset.stdout, /\nledger\s+0\s+10\s+0\s+-\n/);
    assert.match(reset.stdout, /reset 1 offset of group auditors\n$/);
    const again = await weir(['consume', 'ledger', '--group', 'auditors', '--count', '10']);
    assert.equal(again.stdout, `${lines(0, 10).join('\n')}\n`);
  });

  test('--shift-by moves from the committed offset; offsets outside the log are kept within it', async () => {
    const back = await weir(['group', 'reset-offsets', 'auditors', '--topic', 'ledger', '--shift-by', '-3']);
    assert.equal(back.code, 0, back.stderr);
    assert.deepEqual(await committed('auditors'), new Map([[0, 7]]));
    assert.equal((await weir(['consume', 'ledger', '--group', 'auditors', '--count', '3'])).stdout, 'm7\nm8\nm9\n');

    const past = await weir(['group', 'reset-offsets', 'auditors', '--topic', 'ledger', '--to', '500', '--json']);
    assert.equal(past.code, 0, past.stderr);
    assert.deepEqual(JSON.parse(past.stdout), { groupId: 'auditors', topic: 'ledger', partition: 0, previous: 10, offset: 10, note: '500 is past the end', dryRun: false });
    const before = await weir(['group', 'reset-offsets', 'auditors', '--topic', 'ledger', '--shift-by', '-50']);
    assert.match(before.stdout, /\nledger\s+0\s+10\s+0\s+-40 is before the first offset held\n/);
    assert.deepEqual(await committed('auditors'), new Map([[0, 0]]));
  });

  test('--to an ISO time: the first message at or after it', async () => {
    await new Promise((resolve) => setTimeout(resolve, 20));
    const time = new Date();
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal((await weir(['produce', 'ledger'], 'm10\nm11\n')).code, 0);
    const reset = await weir(['group', 'reset-offsets', 'auditors', '--topic', 'ledger', '--to', time.toISOString()]);
    assert.equal(reset.code, 0, reset.stderr);
    assert.deepEqual(await committed('auditors'), new Map([[0, 10]]));
    assert.equal((await weir(['consume', 'ledger', '--group', 'auditors', '--count', '2'])).stdout, 'm10\nm11\n');
    // The same instant written with a zone offset: 5:30 ahead of UTC.
    const inIndia = `${new Date(time.getTime() + 330 * 60_000).toISOString().slice(0, -1)}+05:30`;
    const zoned = await weir(['group', 'reset-offsets', 'auditors', '--topic', 'ledger', '--to', inIndia, '--dry-run', '--json']);
    assert.equal(zoned.code, 0, zoned.stderr);
    assert.equal(JSON.parse(zoned.stdout).offset, 10, inIndia);

    const later = await weir(['group', 'reset-offsets', 'auditors', '--topic', 'ledger', '--to', new Date(Date.now() + 60_000).toISOString()]);
    assert.match(later.stdout, /no message at or after the time: the end/);
    assert.deepEqual(await committed('auditors'), new Map([[0, 12]]));
  });

  test('--dry-run commits nothing', async () => {
    const dry = await weir(['group', 'reset-offsets', 'auditors', '--topic', 'ledger', '--to', 'earliest', '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /dry run: group auditors would commit 1 offset; nothing changed\n$/);
    assert.deepEqual(await committed('auditors'), new Map([[0, 12]]));
  });

  test('a group yet to start gets offsets for the partitions named', async () => {
    assert.equal((await weir(['topic', 'create', 'spread', '--partitions', '3'])).code, 0);
    assert.equal((await weir(['produce', 'spread', '--partition', '2'], 'x\ny\nz\n')).code, 0);
    const reset = await weir(['group', 'reset-offsets', 'fresh', '--topic', 'spread', '--partition', '2', '--partition', '0', '--to', '1']);
    assert.equal(reset.code, 0, reset.stderr);
    assert.deepEqual(await committed('fresh'), new Map([[0, 0], [2, 1]]));
  });

  test('a reset that cannot be done for one partition changes none', async () => {
    // fresh has offsets on partitions 0 and 2 only: shifting partition 1 is refused, and 0 and 2 stay.
    const shift = await weir(['group', 'reset-offsets', 'fresh', '--topic', 'spread', '--shift-by', '1']);
    assert.equal(shift.code, 1);
    assert.match(shift.stderr, /INVALID_REQUEST: group fresh has no committed offset on spread\[1\] to shift: reset it to a position instead/);
    assert.deepEqual(await committed('fresh'), new Map([[0, 0], [2, 1]]));

    const partition = await weir(['group', 'reset-offsets', 'fresh', '--topic', 'spread', '--partition', '3', '--to', 'latest']);
    assert.equal(partition.code, 1);
    assert.match(partition.stderr, /UNKNOWN_PARTITION: topic spread has partitions 0 to 2, not 3/);
    const topic = await weir(['group', 'reset-offsets', 'fresh', '--topic', 'missing', '--to', 'latest']);
    assert.equal(topic.code, 1);
    assert.match(topic.stderr, /UNKNOWN_TOPIC/);
    assert.deepEqual(await committed('fresh'), new Map([[0, 0], [2, 1]]));
  });

  test('usage errors exit 2', async () => {
    for (const [args, message] of [
      [['--topic', 'ledger'], /give exactly one of --to and --shift-by/],
      [['--topic', 'ledger', '--to', 'earliest', '--shift-by', '1'], /give exactly one of --to and --shift-by/],
      [['--to', 'earliest'], /missing --topic/],
      [['--topic', 'ledger', '--to', 'soon'], /--to "soon": expected earliest, latest, an offset or an ISO-8601 time/],
      [['--topic', 'ledger', '--shift-by', '1.5'], /--shift-by "1.5": expected an integer/],
    ] as const) {
      const result = await weir(['group', 'reset-offsets', 'auditors', ...args]);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
    }
  });

  test('a group with a live member is refused, its offsets unchanged', async () => {
    const member = spawn(process.execPath, [cliPath, 'consume', 'ledger', '--group', 'auditors', '--timeout-ms', '10000', '--server', broker.address], { stdio: 'ignore' });
    const exited = new Promise((resolve) => member.once('close', resolve));
    try {
      let joined = '';
      for (let i = 0; i < 100 && !/members\s+1/.test(joined); i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        joined = (await weir(['group', 'describe', 'auditors'])).stdout;
      }
      assert.match(joined, /members\s+1/);
      const refused = await weir(['group', 'reset-offsets', 'auditors', '--topic', 'ledger', '--to', 'earliest']);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /GROUP_NOT_EMPTY: group auditors has 1 live member: stop its consumers first/);
    } finally {
      member.kill('SIGTERM');
      await exited;
    }
    assert.deepEqual(await committed('auditors'), new Map([[0, 12]]));
  });
});
