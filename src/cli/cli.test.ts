/**
 * The `weir` command line end to end: a real broker process and the real CLI as child processes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { spawn } from 'node:child_process';
import { cliPath, runCli, runCliIntoClosingReader, runCliIntoLineReader, startBroker, type BrokerProcess } from './testing/cli-process.js';

let broker: BrokerProcess;

before(async () => {
  broker = await startBroker();
});

after(async () => {
  await broker?.stop();
});

const weir = (args: string[], input?: string) => runCli(args, { input, server: broker.address });

describe('weir topic', () => {
  test('create, alter, list, describe and delete', async () => {
    const created = await weir(['topic', 'create', 'orders', '--partitions', '3', '--flush', 'interval:50', '--retention-ms', '3600000']);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /created topic orders with 3 partitions/);

    const again = await weir(['topic', 'create', 'orders']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /TOPIC_EXISTS: /);

    const listed = await weir(['topic', 'list']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^TOPIC\s+PARTITIONS/);
    assert.match(listed.stdout, /\norders\s+3\s+0\s+0\s+interval:50\s+3600000 ms/);
    assert.doesNotMatch(listed.stdout, /__consumer_offsets/);
    assert.match((await weir(['topic', 'list', '--internal'])).stdout, /\n__consumer_offsets\s+1\s/);

    const described = await weir(['topic', 'describe', 'orders', '--json']);
    assert.equal(described.code, 0, described.stderr);
    const description = JSON.parse(described.stdout);
    assert.equal(description.partitions.length, 3);
    assert.deepEqual(description.config.flush, { kind: 'interval', intervalMs: 50 });
    assert.equal(description.config.retentionMs, 3600000);

    const table = await weir(['topic', 'describe', 'orders']);
    assert.match(table.stdout, /flush\s+interval:50/);
    assert.match(table.stdout, /timestamp-ahead-ms-max +3600000\n/);
    const settingLines = table.stdout.split('\n\n')[0]!.split('\n');
    const valueColumns = settingLines.map((line) => /^\S+ +/.exec(line)![0].length);
    assert.deepEqual(new Set(valueColumns), new Set([valueColumns[0]]), `every setting's value starts in one column:\n${table.stdout}`);
    assert.match(table.stdout, /\n2\s+0\s+0\s+0\s+0\s+0/);

    const altered = await weir(['topic', 'alter', 'orders', '--partitions', '5', '--retention-ms', 'none']);
    assert.equal(altered.code, 0, altered.stderr);
    assert.equal(altered.stdout, 'altered topic orders: partitions 3 -> 5, retention 3600000 ms -> forever\n');
    const shrink = await weir(['topic', 'alter', 'orders', '--partitions', '2']);
    assert.equal(shrink.code, 1);
    assert.match(shrink.stderr, /INVALID_CONFIG: --partitions 2 is invalid: topic orders has 5 partitions and partitions can only be added/);
    // A value only the broker can judge is refused in the words of the command line, not the broker's field names.
    const tiny = await weir(['topic', 'create', 'tiny', '--segment-bytes-max', '1']);
    assert.equal(tiny.code, 1);
    assert.match(tiny.stderr, /INVALID_CONFIG: --segment-bytes-max 1 is invalid: expected an integer from 16384 to 1073741824\n/);
    const larger = await weir(['topic', 'alter', 'orders', '--segment-bytes-max', '100000', '--message-bytes-max', '200000']);
    assert.match(larger.stderr, /--message-bytes-max 200000 is invalid: must not exceed --segment-bytes-max \(100000\)\n/);
    assert.doesNotMatch((await weir(['topic', 'list'])).stdout, /tiny/);
    const nothing = await weir(['topic', 'alter', 'orders']);
    assert.equal(nothing.code, 2);
    assert.match(nothing.stderr, /nothing to change/);
    assert.match((await weir(['topic', 'describe', 'orders'])).stdout, /partitions\s+5\n/);
    const unlimited = await weir(['topic', 'alter', 'orders', '--timestamp-ahead-ms-max', 'none']);
    assert.equal(unlimited.stdout, 'altered topic orders: timestamp-ahead-ms-max 3600000 -> none\n');

    const behind = await weir(['topic', 'create', 'replayed', '--timestamp-behind-ms-max', '60000']);
    assert.equal(behind.code, 0, behind.stderr);
    assert.match((await weir(['topic', 'describe', 'replayed'])).stdout, /\ntimestamp-behind-ms-max 60000\n/);
    assert.match((await weir(['topic', 'describe', 'orders'])).stdout, /\ntimestamp-behind-ms-max none\n/, 'no bound by default');
    const anyAge = await weir(['topic', 'alter', 'replayed', '--timestamp-behind-ms-max', 'none']);
    assert.equal(anyAge.stdout, 'altered topic replayed: timestamp-behind-ms-max 60000 -> none\n');
    const negative = await weir(['topic', 'alter', 'replayed', '--timestamp-behind-ms-max', '-5']);
    assert.equal(negative.code, 2);
    assert.match(negative.stderr, /timestamp-behind-ms-max/);

    const deleted = await weir(['topic', 'delete', 'orders']);
    assert.equal(deleted.code, 0, deleted.stderr);
    const gone = await weir(['topic', 'describe', 'orders']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /^weir topic: UNKNOWN_TOPIC: /);
  });
});

describe('weir produce and consume', () => {
  test('lines produced from stdin come back in order', async () => {
    const lines = Array.from({ length: 5_000 }, (_, i) => `line ${i} ${'x'.repeat(i % 50)}`);
    const produced = await weir(['produce', 'lines'], `${lines.join('\n')}\n`);
    assert.equal(produced.code, 0, produced.stderr);
    const consumed = await weir(['consume', 'lines', '--from', 'earliest', '--count', String(lines.length)]);
    assert.equal(consumed.code, 0, consumed.stderr);
    assert.deepEqual(consumed.stdout.split('\n').slice(0, -1), lines);
  });

  test('a line larger than the topic allows fails the command naming the line; the lines before it are stored, none after it', async () => {
    assert.equal((await weir(['topic', 'create', 'narrow', '--message-bytes-max', '1024'])).code, 0);
    const produced = await weir(['produce', 'narrow'], `one\ntwo\n${'x'.repeat(2000)}\nafter\n`);
    assert.equal(produced.code, 1, produced.stderr);
    assert.match(produced.stderr, /^weir produce: MESSAGE_TOO_LARGE: a message of 2000 bytes .* \(line 3 of the input; 2 of the 2 lines before it were acknowledged and nothing after it was sent\)\n$/);
    const described = JSON.parse((await weir(['topic', 'describe', 'narrow', '--json'])).stdout);
    assert.equal(described.partitions[0].offsetEnd, 2, 'one and two are stored, after is not');
    const first = await weir(['produce', 'narrow'], `${'x'.repeat(2000)}\nafter\n`);
    assert.match(first.stderr, /\(line 1 of the input; nothing after it was sent\)\n$/);
    assert.equal(JSON.parse((await weir(['topic', 'describe', 'narrow', '--json'])).stdout).partitions[0].offsetEnd, 2);
  });

  test('keys, headers, offsets and --json', async () => {
    const created = await weir(['topic', 'create', 'keyed', '--partitions', '4']);
    assert.equal(created.code, 0, created.stderr);
    const input = 'alice:one\nbob:two\nalice:three\nno-separator\n';
    const produced = await weir(['produce', 'keyed', '--key-separator', ':', '--header', 'source=test', '--header', 'flag'], input);
    assert.equal(produced.code, 0, produced.stderr);
    const consumed = await weir(['consume', 'keyed', '--from', 'earliest', '--count', '4', '--json']);
    assert.equal(consumed.code, 0, consumed.stderr);
    const messages = consumed.stdout.trim().split('\n').map((line) => JSON.parse(line));
    assert.equal(messages.length, 4);
    for (const m of messages) {
      assert.deepEqual(Object.keys(m).sort(), ['headers', 'key', 'offset', 'partition', 'timestamp', 'topic', 'value']);
      assert.equal(m.topic, 'keyed');
      assert.deepEqual(m.headers, [{ key: 'source', value: 'test' }, { key: 'flag', value: null }]);
      assert.ok(Math.abs(m.timestamp - Date.now()) < 60_000);
    }
    const alice = messages.filter((m) => m.key === 'alice');
    assert.deepEqual(alice.map((m) => m.value), ['one', 'three'], 'one key keeps its order');
    assert.equal(alice[0].partition, alice[1].partition);
    assert.ok(alice[1].offset > alice[0].offset);
    assert.deepEqual(messages.find((m) => m.key === null)?.value, 'no-separator');

    const plain = await weir(['consume', 'keyed', '--from', 'earliest', '--timeout-ms', '500', '--print-key', '--print-offset', '--partition', String(alice[0].partition)]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, new RegExp(`^${alice[0].partition}:${alice[0].offset}\\talice\\tone$`, 'm'));
  });

  test('a group resumes after its committed offset; group describe shows it with the lag', async () => {
    const produced = await weir(['produce', 'jobs', '--key', 'same'], 'a\nb\nc\nd\ne\n');
    assert.equal(produced.code, 0, produced.stderr);
    const first = await weir(['consume', 'jobs', '--group', 'workers', '--from', 'earliest', '--count', '3']);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, 'a\nb\nc\n');

    const described = await weir(['group', 'describe', 'workers']);
    assert.equal(described.code, 0, described.stderr);
    assert.match(described.stdout, /\njobs\s+0\s+3\s+5\s+2\b/);
    assert.match(described.stdout, /total lag\s+2/);

    const listed = await weir(['group', 'list']);
    assert.match(listed.stdout, /\nworkers\s+Empty/);

    // A member that has committed nothing: its lag is not known, so not 0.
    const idle = spawn(process.execPath, [cliPath, 'consume', 'jobs', '--group', 'idlers', '--from', 'latest', '--timeout-ms', '4000', '--server', broker.address], { stdio: 'ignore' });
    const idleExited = new Promise((resolve) => idle.once('close', resolve));
    let joined = '';
    for (let i = 0; i < 60 && !/members\s+1/.test(joined); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      joined = (await weir(['group', 'describe', 'idlers'])).stdout;
    }
    assert.match(joined, /members\s+1/);
    assert.match(joined, /total lag\s+- \(nothing committed\)/);
    idle.kill('SIGTERM');
    await idleExited;

    const second = await weir(['consume', 'jobs', '--group', 'workers', '--from', 'earliest', '--count', '2']);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout, 'd\ne\n');
    const json = JSON.parse((await weir(['group', 'describe', 'workers', '--json'])).stdout);
    assert.deepEqual(json.offsets.map((o: { offset: number; lag: number }) => [o.offset, o.lag]), [[5, 0]]);

    const deleted = await weir(['group', 'delete', 'workers']);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.stdout, 'deleted group workers\n');
    const gone = await weir(['group', 'describe', 'workers']);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /UNKNOWN_GROUP/);
    const again = await weir(['consume', 'jobs', '--group', 'workers', '--from', 'earliest', '--count', '1']);
    assert.equal(again.stdout, 'a\n', 'a deleted group starts again from --from');
  });

  test('--timeout-ms ends a consumer that has nothing more to read', async () => {
    const consumed = await weir(['consume', 'jobs', '--from', 'earliest', '--timeout-ms', '500']);
    assert.equal(consumed.code, 0, consumed.stderr);
    assert.equal(consumed.stdout, 'a\nb\nc\nd\ne\n');
  });

  test('an offset past the end waits there for new messages rather than reading from the start', async () => {
    const waiting = runCli(['consume', 'jobs', '--from', '99', '--count', '1', '--print-offset'], { server: broker.address });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal((await weir(['produce', 'jobs'], 'f\n')).code, 0);
    const consumed = await waiting;
    assert.equal(consumed.code, 0, consumed.stderr);
    assert.equal(consumed.stdout, '0:5\tf\n');
  });

  test('a reader that goes away ends the command quietly (weir topic list | head)', async () => {
    const child = spawn(process.execPath, [cliPath, 'topic', 'list', '--json', '--server', broker.address], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // the reader is gone before the first line
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    assert.equal(code, 0, stderr);
    assert.equal(stderr, '');
  });

  test('consume --group whose reader goes away (| head) commits what it printed before it ends', async () => {
    const values = Array.from({ length: 30_000 }, (_, i) => `line-${i}`);
    assert.equal((await weir(['produce', 'headed'], `${values.join('\n')}\n`)).code, 0);
    const { code, stderr } = await runCliIntoClosingReader(['consume', 'headed', '--group', 'headers', '--from', 'earliest'], broker.address);
    assert.equal(code, 0, stderr);
    const group = JSON.parse((await weir(['group', 'describe', 'headers', '--json'])).stdout) as { members: unknown[]; offsets: { offset: number }[] };
    assert.equal(group.offsets.length, 1, 'a commit was made');
    const committed = group.offsets[0]!.offset;
    // Printed means handed to the pipe: at least the first chunk, not the whole topic.
    assert.ok(committed > 0 && committed < values.length, `committed ${committed}`);
    assert.deepEqual(group.members, [], 'the member left the group');
  });

  test('consume --group commits only lines stdout took: after its reader read 2 lines and went away, the next messages stay for the group', async () => {
    assert.equal((await weir(['topic', 'create', 'head-group'])).code, 0);
    assert.equal((await weir(['produce', 'head-group'], 'm-0\nm-1\nm-2\nm-3\nm-4\n')).code, 0);
    const { readerGone, exited } = runCliIntoLineReader(['consume', 'head-group', '--group', 'heads', '--from', 'earliest'], broker.address, 2);
    assert.deepEqual(await readerGone, ['m-0', 'm-1']);
    // Only now: the command writes these into a pipe nobody reads any more (EPIPE).
    assert.equal((await weir(['produce', 'head-group'], 'late-0\nlate-1\nlate-2\n')).code, 0);
    const { code, stderr } = await exited;
    assert.equal(code, 0, stderr);
    const group = JSON.parse((await weir(['group', 'describe', 'heads', '--json'])).stdout) as { members: unknown[]; offsets: { offset: number }[] };
    assert.deepEqual(group.members, [], 'the member left the group');
    const committed = group.offsets[0]?.offset;
    // The 2 lines read were written; m-2..m-4 may have sat unread in the pipe's buffer (written
    // too, as far as the command can know); the late lines never reached stdout.
    assert.ok(committed !== undefined && committed >= 2 && committed <= 5, `committed ${committed}`);
    const rest = await weir(['consume', 'head-group', '--group', 'heads', '--count', String(8 - committed), '--print-offset']);
    assert.equal(rest.code, 0, rest.stderr);
    const expected = ['m-0', 'm-1', 'm-2', 'm-3', 'm-4', 'late-0', 'late-1', 'late-2'].map((value, offset) => `0:${offset}\t${value}`).slice(committed);
    assert.equal(rest.stdout, `${expected.join('\n')}\n`, 'the group reads on from the last line written');
  });
});

describe('weir consume, final commit', () => {
  test('consume --group whose final commit the broker refuses exits 1 with the code and the message', async () => {
    assert.equal((await weir(['produce', 'held'], 'one\n')).code, 0);
    // A live member of the group: a commit from outside its membership (--partition) is refused.
    const member = spawn(process.execPath, [cliPath, 'consume', 'held', '--group', 'holders', '--timeout-ms', '20000', '--server', broker.address], { stdio: 'ignore' });
    const memberExited = new Promise((resolve) => member.once('close', resolve));
    try {
      let joined = '';
      for (let i = 0; i < 60 && !/members\s+1/.test(joined); i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        joined = (await weir(['group', 'describe', 'holders'])).stdout;
      }
      assert.match(joined, /members\s+1/);
      const refused = await weir(['consume', 'held', '--group', 'holders', '--partition', '0', '--from', 'earliest', '--count', '1']);
      assert.equal(refused.stdout, 'one\n');
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, /^weir consume: UNKNOWN_MEMBER: group holders: the broker refused the final commit, .*: group holders has active members/);
    } finally {
      member.kill('SIGTERM');
      await memberExited;
    }
  });
});

describe('weir errors', () => {
  test('bad flags exit 2 with the usage', async () => {
    for (const args of [
      ['produce', 'x', '--acks', 'all'],
      ['produce'],
      ['consume', 'x', '--from', 'yesterday'],
      ['consume', 'x', '--no-such-flag'],
      ['topic', 'create', 'x', '--partitions', '0'],
      ['topic', 'create', 'x', '--flush', 'sometimes'],
      ['topic', 'frobnicate'],
      ['bench', '--workload', 'nap'],
      ['nonsense'],
    ]) {
      const result = await weir(args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, /weir /, args.join(' '));
    }
    // Malformed values, caught before anything starts or connects.
    for (const [args, message] of [
      [['start', '--default-flush', 'sometimes'], /--default-flush "sometimes"/],
      [['start', '--log-level', 'loud'], /--log-level "loud": expected one of debug, info, warn, error/],
      [['start', '--kafka-connection-idle-ms-max', '2147483648'], /--kafka-connection-idle-ms-max "2147483648": expected an integer from 0 to 2147483647/],
      [['start', '--native-connection-idle-ms-max', '-1'], /--native-connection-idle-ms-max "-1": expected an integer from 0 to 2147483647/],
      [['produce', 'x', '--key', 'a', '--key-separator', ':'], /--key and --key-separator exclude each other/],
      [['produce', 'x', '--header', 'weir-deliver-at=1'], /--header weir-deliver-at: names starting with "weir-" are reserved/],
      [['topic', 'list', '--server', 'nohost:xx'], /--server "nohost:xx": expected HOST:PORT/],
    ] as const) {
      const result = await runCli([...args]);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message, args.join(' '));
    }
    const topicHelp = await runCli(['topic', '--help']);
    assert.match(topicHelp.stdout, /weir topic list \[--json\] \[--internal\]/, 'topic list --internal is in the help');
    const help = await runCli(['--help']);
    assert.equal(help.code, 0);
    for (const command of ['start', 'topic', 'produce', 'consume', 'group', 'bench']) assert.match(help.stdout, new RegExp(`\\n  ${command}\\s`));
  });

  test('values Number() or Date would bend, a flag given twice and a --server with more than an address exit 2 naming the value', async () => {
    for (const [args, message] of [
      [['topic', 'create', 'x', '--partitions', '1e1'], /--partitions "1e1": expected an integer from 1 to 10000/],
      [['topic', 'create', 'x', '--retention-ms', '-5'], /--retention-ms "-5": expected "none" or an integer from 1 to 9007199254740991/],
      [['topic', 'alter', 'x', '--timestamp-ahead-ms-max', 'soon'], /--timestamp-ahead-ms-max "soon": expected "none" or an integer from 0 to/],
      [['produce', 'x', '--partition', ''], /--partition "": expected an integer from 0 to 2147483647/],
      [['produce', 'x', '--partition', '0x1'], /--partition "0x1": expected an integer/],
      [['produce', 'x', '--key-separator', ''], /--key-separator "": expected at least one character/],
      [['consume', 'x', '--from', '9223372036854775808'], /--from "9223372036854775808": an offset is at most 9223372036854775807/],
      [['group', 'reset-offsets', 'g', '--topic', 't', '--to', '99999999999999999999999'], /--to "99999999999999999999999": an offset is at most/],
      [['dead-letters', 'replay', 'd', '--offset', '0:9223372036854775808'], /--offset "0:9223372036854775808": expected PARTITION:OFFSET/],
      [['consume', 'x', '--from', '2026-01-01T10:00:00'], /--from "2026-01-01T10:00:00": a time needs its zone, Z \(UTC\) or an offset such as \+01:00/],
      [['consume', 'x', '--from', '2026-02-30'], /--from "2026-02-30": expected earliest, latest, an offset or an ISO-8601 time/],
      [['produce', 'x', '--acks', 'none', '--acks', 'leader'], /--acks given twice \("none", then "leader"\): give it once/],
      [['topic', 'list', '--server', '127.0.0.1:7400', '--server', '127.0.0.1:7401'], /--server given twice/],
      [['topic', 'list', '--server', 'weir://127.0.0.1:7400/orders'], /--server "weir:\/\/127\.0\.0\.1:7400\/orders": expected HOST:PORT/],
      [['topic', 'list', '--server', 'me@127.0.0.1:7400'], /--server "me@127\.0\.0\.1:7400": expected HOST:PORT/],
      [['topic', 'list', '--server', '::1:7400'], /an IPv6 address goes in brackets: \[::1\]:7400/],
    ] as const) {
      const result = await runCli([...args]);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message, args.join(' '));
    }
  });

  test('weir help COMMAND shows that command\'s options, as weir COMMAND --help does', async () => {
    const help = await runCli(['help', 'produce']);
    assert.equal(help.code, 0, help.stderr);
    assert.equal(help.stdout, (await runCli(['produce', '--help'])).stdout);
    assert.match(help.stdout, /^weir produce TOPIC/);
    const unknown = await runCli(['help', 'nonsense']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^weir: unknown command "nonsense"/);
  });

  test('weir alone prints the commands on stdout and exits 2; an unknown command prints them on stderr, also 2', async () => {
    const alone = await runCli([]);
    assert.equal(alone.code, 2);
    assert.match(alone.stdout, /^weir <command> \[options\]\n\nCommands:\n  start /);
    assert.equal(alone.stderr, '');
    const unknown = await runCli(['nonsense']);
    assert.equal(unknown.code, 2);
    assert.equal(unknown.stdout, '');
    assert.match(unknown.stderr, /^weir: unknown command "nonsense"\n\nweir <command> \[options\]/);
  });

  test('an empty WEIR_SERVER counts as unset: the default address, not a usage error', async () => {
    const result = await runCli(['topic', 'list'], { env: { ...process.env, WEIR_SERVER: '' } });
    assert.notEqual(result.code, 2, result.stderr);
    // Whatever listens on the default port (usually nothing): the command went there.
    if (result.code !== 0) assert.match(result.stderr, /^weir topic: CONNECTION_CLOSED: .*127\.0\.0\.1:7400/);
  });

  test('produce to a stopped broker exits non-zero and names the address', async () => {
    const stopped = await startBroker();
    await stopped.stop();
    const result = await runCli(['produce', 'anything'], { input: 'x\n', env: { ...process.env, WEIR_SERVER: stopped.address } });
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`weir produce: CONNECTION_CLOSED: .*${stopped.address.replace(/\./g, '\\.')}`));
  });

  test('produce --timeout-ms fails a run whose broker went away, while stdin is still open', async () => {
    const lost = await startBroker();
    const child = spawn(process.execPath, [cliPath, 'produce', 'going', '--timeout-ms', '1000', '--server', lost.address], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    child.stdin.write('first\n');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await lost.stop();
    child.stdin.write('second\n'); // and stdin stays open
    const code = await Promise.race([exited, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 15_000))]);
    if (code === 'hung') child.kill('SIGKILL');
    assert.equal(code, 1, stderr);
    assert.match(stderr, /weir produce: TIMEOUT: 1 of 2 messages were not acknowledged by .* within 1000 ms/);
  });

  test('produce --timeout-ms names the refusal it was retrying through (DISK_FREE_LOW on an existing topic)', async () => {
    const full = await startBroker(['--disk-free-min-bytes', '9000000000000000']); // 9 PB: more than any disk here has free
    try {
      assert.equal((await runCli(['topic', 'create', 'existing'], { server: full.address })).code, 0);
      const result = await runCli(['produce', 'existing', '--timeout-ms', '1000'], { input: 'x\n', server: full.address });
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /weir produce: TIMEOUT: 1 of 1 messages were not acknowledged by .* within 1000 ms; the broker kept refusing them with DISK_FREE_LOW: .* bytes free, below the minimum of 9000000000000000/);
    } finally {
      await full.stop();
    }
  });

  test('consume --group --timeout-ms ends while the broker is down: close gives up its last commit', async () => {
    const lost = await startBroker();
    assert.equal((await runCli(['produce', 'leaving'], { input: 'only\n', server: lost.address })).code, 0);
    const child = spawn(process.execPath, [cliPath, 'consume', 'leaving', '--group', 'g', '--from', 'earliest', '--timeout-ms', '1000', '--server', lost.address], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const printed = new Promise<void>((resolve) => child.stdout.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
      if (stdout.includes('\n')) resolve();
    }));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    await printed;
    await lost.stop();
    const code = await Promise.race([exited, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 20_000))]);
    if (code === 'hung') child.kill('SIGKILL');
    assert.equal(code, 0, stderr);
    assert.equal(stdout, 'only\n');
  });
});

describe('weir bench', () => {
  test('a produce workload ends with a JSON line of figures', async () => {
    const result = await weir(['bench', '--workload', 'produce', '--count', '20000']);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trim().split('\n');
    const figures = JSON.parse(lines.at(-1)!);
    assert.equal(figures.workload, 'produce');
    assert.equal(figures.produce.messages, 20_000);
    assert.ok(figures.produce.messagesPerSecond > 0);
    assert.ok(figures.produce.latency.p99Ms >= figures.produce.latency.p50Ms);
    assert.match(result.stdout, /msg\/s/);
    assert.match(result.stdout, /p99\.9/);
    const topics = await weir(['topic', 'list']);
    assert.doesNotMatch(topics.stdout, /bench-/, 'the fresh bench topic is deleted');
  });

  test('--message-bytes the topic cannot take is refused before the run starts, and its topic deleted', async () => {
    const result = await weir(['bench', '--message-bytes', '1048505', '--count', '10']);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '', 'no run started');
    assert.match(result.stderr, /MESSAGE_TOO_LARGE: --message-bytes 1048505 does not fit in a batch of topic bench-\S+: the batch would take 1048577 bytes, its message-bytes-max is 1048576/);
    assert.doesNotMatch((await weir(['topic', 'list'])).stdout, /bench-/, 'the fresh bench topic is deleted');
  });

  test('an end-to-end workload counts every message at the consumer', async () => {
    const result = await weir(['bench', '--workload', 'e2e', '--count', '5000', '--partitions', '2', '--consumers', '3']);
    assert.equal(result.code, 0, result.stderr);
    const figures = JSON.parse(result.stdout.trim().split('\n').at(-1)!);
    assert.equal(figures.endToEnd.messages, 5_000);
    assert.equal(figures.endToEnd.latency.count, 5_000);
    assert.equal(figures.consumers, 2, 'one consumer per partition at most');
    assert.match(result.stdout, /\[2 consumers reading while producing\]/);
  });

  test('Ctrl-C ends a run with 130 after deleting its fresh topic', async () => {
    const child = spawn(process.execPath, [cliPath, 'bench', '--duration-ms', '20000', '--progress', '--window-bytes', '65536', '--server', broker.address], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    const progressed = new Promise<void>((resolve) => child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
      if (/ s: sent /.test(stderr)) resolve();
    }));
    child.stdout.resume();
    await Promise.race([progressed, exited]);
    child.kill('SIGINT');
    const code = await exited;
    assert.equal(code, 130, stderr);
    assert.match(stderr, /weir bench: interrupted, no figures; deleting topic bench-/);
    assert.doesNotMatch(stderr, /could not delete/);
    assert.doesNotMatch((await weir(['topic', 'list'])).stdout, /bench-/, 'the fresh bench topic is deleted');
  });

  test('--stall-ms fails a run whose broker died, and the command ends', async () => {
    const lost = await startBroker();
    const started = Date.now();
    const running = runCli(['bench', '--workload', 'produce', '--duration-ms', '20000', '--stall-ms', '1000', '--window-bytes', '65536'], { server: lost.address });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    lost.process.kill('SIGKILL');
    const result = await running;
    await lost.stop();
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /TIMEOUT: no message was acknowledged or received for 1000 ms/);
    assert.match(result.stderr, /could not delete topic bench-/);
    assert.ok(Date.now() - started < 15_000, `ended after ${Date.now() - started} ms`);
  });
});

describe('weir start', () => {
  test('--offsets-retention-ms and --producer-idle-ms-max: a one-off group and an idle producer id are forgotten', async () => {
    const own = await startBroker(['--offsets-retention-ms', '300', '--producer-idle-ms-max', '300']);
    const log: string[] = [];
    own.process.stderr!.on('data', (chunk: Buffer) => log.push(chunk.toString()));
    try {
      const ownWeir = (args: string[], input?: string) => runCli(args, { input, server: own.address });
      assert.equal((await ownWeir(['produce', 'once'], 'hello\n')).code, 0);
      const consumed = await ownWeir(['consume', 'once', '--group', 'one-off', '--from', 'earliest', '--count', '1']);
      assert.equal(consumed.stdout, 'hello\n', consumed.stderr);
      const deadline = Date.now() + 10_000;
      const forgotten = () => /forgot 1 idempotent producer ids idle for 300 ms/.test(log.join('')) && /deleted 1 groups without members, idle for 300 ms/.test(log.join(''));
      while (!forgotten() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      assert.ok(forgotten(), log.join(''));
      assert.doesNotMatch((await ownWeir(['group', 'list'])).stdout, /one-off/);
    } finally {
      await own.stop();
    }
  });

  test('an expiry outside its range is a usage error', async () => {
    const result = await runCli(['start', '--offsets-retention-ms', '5']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--offsets-retention-ms "5": expected an integer from 100 to 315360000000/);
  });

  test('a memory bound, a connection bound or a connection time limit outside its range is a usage error naming the flag and the range', async () => {
    for (const [args, message] of [
      [['--fetch-memory-bytes', '1048575'], /--fetch-memory-bytes "1048575": expected an integer from 1048576 to 1099511627776/],
      [['--fetch-memory-bytes', '64MiB'], /--fetch-memory-bytes "64MiB": expected an integer from 1048576 to 1099511627776/],
      [['--request-memory-bytes', '1099511627777'], /--request-memory-bytes "1099511627777": expected an integer from 1048576 to 1099511627776/],
      [['--request-memory-bytes', '0'], /--request-memory-bytes "0": expected an integer from 1048576/],
      [['--queue-window-memory-bytes', '1e9'], /--queue-window-memory-bytes "1e9": expected an integer from 1048576 to 1099511627776/],
      [['--queue-window-memory-bytes', '-1'], /--queue-window-memory-bytes "-1": expected an integer from 1048576/],
      [['--queue-lease-memory-bytes', '1048575'], /--queue-lease-memory-bytes "1048575": expected an integer from 1048576 to 1099511627776/],
      [['--connections-max', '0'], /--connections-max "0": expected an integer from 1 to 1000000/],
      [['--connections-max', '1000001'], /--connections-max "1000001": expected an integer from 1 to 1000000/],
      [['--native-hello-ms-max', '0'], /--native-hello-ms-max "0": expected an integer from 1 to 2147483647/],
      [['--native-hello-ms-max', '10s'], /--native-hello-ms-max "10s": expected an integer from 1 to 2147483647/],
      [['--frame-arrival-ms-max', '2147483648'], /--frame-arrival-ms-max "2147483648": expected an integer from 0 to 2147483647/],
      [['--frame-arrival-ms-max', '-1'], /--frame-arrival-ms-max "-1": expected an integer from 0 to 2147483647/],
    ] as const) {
      const result = await runCli(['start', ...args]);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message, args.join(' '));
    }
  });
});
