/**
 * The `weir` command line for queue subscriptions end to end: `subscription`, `consume --type
 * queue`, `dead-letters` and `produce --delay-ms/--ttl-ms`, with a real broker process and the
 * real CLI as child processes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCli, runCliIntoClosingReader, runCliIntoLineReader, startBroker, type BrokerProcess } from './testing/cli-process.js';

let broker: BrokerProcess;

before(async () => {
  broker = await startBroker();
});

after(async () => {
  await broker?.stop();
});

const weir = (args: string[], input?: string, server = broker.address) => runCli(args, { input, server });

/** Runs a command that must succeed; returns its stdout. */
async function ok(args: string[], input?: string, server = broker.address): Promise<string> {
  const result = await weir(args, input, server);
  assert.equal(result.code, 0, `weir ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

const describeJson = async (topic: string, name: string, server = broker.address) => JSON.parse(await ok(['subscription', 'describe', topic, name, '--json'], undefined, server));
const jsonLines = (text: string) => text.trim().split('\n').filter((line) => line !== '').map((line) => JSON.parse(line));
const lines = (count: number, prefix: string) => Array.from({ length: count }, (_, i) => `${prefix}-${i}`);

/** Polls `check` every 100 ms until it returns a value (at most `waitMsMax`). */
async function eventually<T>(check: () => Promise<T | undefined>, waitMsMax = 5_000): Promise<T> {
  const deadline = Date.now() + waitMsMax;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`not within ${waitMsMax} ms`);
    await sleep(100);
  }
}

describe('weir subscription', () => {
  test('create with flags, list, describe and delete', async () => {
    await ok(['topic', 'create', 'orders', '--partitions', '2']);
    const created = await ok([
      'subscription', 'create', 'orders', 'billing',
      '--ack-timeout-ms', '5000', '--deliveries-max', '3', '--backoff', 'exp:200:4000',
      '--dead-letter-topic', 'orders-failed', '--discard', 'dead-letter', '--backlog-messages-max', '1000',
      '--backlog-bytes-max', '1048576', '--overflow', 'drop-oldest', '--key-ordered', '--start', 'latest',
    ]);
    assert.equal(created, 'created subscription billing on orders (dead letters to orders-failed)\n');
    const d = await describeJson('orders', 'billing');
    assert.deepEqual(d.config, {
      ackTimeoutMs: 5000,
      deliveriesMax: 3,
      backoff: { kind: 'exponential', initialMs: 200, maxMs: 4000, multiplier: 2, jitter: 0.2 },
      deadLetterTopic: 'orders-failed',
      discard: 'dead-letter',
      backlogMessagesMax: 1000,
      backlogBytesMax: 1048576,
      overflow: 'drop-oldest',
      keyOrdered: true,
      startAt: 'latest',
    });
    assert.equal(d.partitions.length, 2);

    const updated = await ok(['subscription', 'create', 'orders', 'billing', '--backoff', 'fixed:50', '--backlog-messages-max', 'none']);
    assert.match(updated, /^updated subscription billing on orders/);
    const changed = await describeJson('orders', 'billing');
    assert.deepEqual(changed.config.backoff, { kind: 'fixed', delayMs: 50 });
    assert.equal(changed.config.backlogMessagesMax, null);
    assert.equal(changed.config.deliveriesMax, 3, 'settings not given stay');

    // The start is fixed at creation: a different one is refused, with nothing changed; the same one is not a change.
    const restart = await weir(['subscription', 'create', 'orders', 'billing', '--start', 'earliest', '--deliveries-max', '4']);
    assert.equal(restart.code, 1);
    assert.equal(restart.stdout, '');
    assert.match(restart.stderr, /INVALID_CONFIG.*startAt cannot change on the existing subscription billing of topic orders: it started at latest when it was created; delete it and create it again to start at earliest/);
    assert.equal((await describeJson('orders', 'billing')).config.deliveriesMax, 3, 'a refused update changes nothing');
    assert.match(await ok(['subscription', 'create', 'orders', 'billing', '--start', 'latest', '--deliveries-max', '4']), /^updated subscription billing/);
    assert.deepEqual([(await describeJson('orders', 'billing')).config.deliveriesMax, (await describeJson('orders', 'billing')).config.startAt], [4, 'latest']);

    await ok(['subscription', 'create', 'orders', 'audit']);
    const table = await ok(['subscription', 'list', 'orders']);
    assert.match(table, /^TOPIC\s+NAME\s+CONSUMERS\s+BACKLOG\s+IN-FLIGHT\s+SCHEDULED\s+OLDEST-AGE\s+REDELIVERIES\s+DEAD-LETTERS\n/);
    assert.match(table, /\norders\s+audit\s+0\s+0\s+0\s+0\s+-\s+0\s+0\n/);
    assert.match(table, /\norders\s+billing\s+0\s+0/);
    const text = await ok(['subscription', 'describe', 'orders', 'billing']);
    assert.match(text, /^subscription\s+billing on orders \(queue\)$/m);
    assert.match(text, /^backoff\s+fixed:50$/m);
    assert.match(text, /^key-ordered\s+true$/m);
    assert.match(text, /^PARTITION\s+ACK-FLOOR\s+BACKLOG\s+BACKLOG-BYTES\s+IN-FLIGHT\s+SCHEDULED\s+IN-MEMORY\s+IN-MEMORY-BYTES\n0\s+0\s+0\s+0\s+0\s+0\s+0\s+0\n1\s+0/m);

    assert.equal(await ok(['subscription', 'delete', 'orders', 'audit']), 'deleted subscription audit on orders\n');
    const left = jsonLines(await ok(['subscription', 'list', '--json']));
    assert.deepEqual(left.filter((s) => s.topic === 'orders').map((s) => s.name), ['billing']);
  });
});

describe('weir consume --type queue', () => {
  test('prints every message and acknowledges it', async () => {
    await ok(['subscription', 'create', 'work', 'workers']);
    const values = lines(20, 'job');
    await ok(['produce', 'work'], `${values.join('\n')}\n`);
    const consumed = await ok(['consume', 'work', '--subscription', 'workers', '--type', 'queue', '--count', '20']);
    assert.deepEqual(consumed.split('\n').slice(0, -1), values);
    const d = await describeJson('work', 'workers');
    assert.equal(d.backlogMessages, 0);
    assert.equal(d.ackedTotal, 20);
    assert.equal(d.inFlight, 0);
    assert.equal(d.redeliveriesTotal, 0, 'nothing was leased beyond --count');
  });

  test('--count below the backlog leases no message it does not print', async () => {
    await ok(['subscription', 'create', 'deep', 'some']);
    const values = lines(50, 'm');
    await ok(['produce', 'deep'], `${values.join('\n')}\n`);
    const consumed = await ok(['consume', 'deep', '--subscription', 'some', '--count', '30', '--prefetch', '10']);
    assert.deepEqual(consumed.split('\n').slice(0, -1), values.slice(0, 30));
    const d = await describeJson('deep', 'some');
    assert.deepEqual([d.ackedTotal, d.backlogMessages, d.inFlight, d.redeliveriesTotal], [30, 20, 0, 0]);
    const rest = jsonLines(await ok(['consume', 'deep', '--subscription', 'some', '--count', '20', '--json']));
    assert.deepEqual(rest.map((m) => [m.value, m.deliveryCount]), values.slice(30).map((v) => [v, 1]));
  });

  test('--count with messages further apart than the ack timeout acknowledges each as it is printed: no message printed twice', async () => {
    await ok(['subscription', 'create', 'sparse', 'slow', '--ack-timeout-ms', '1000', '--backoff', 'fixed:100']);
    const consuming = weir(['consume', 'sparse', '--subscription', 'slow', '--count', '3']);
    await ok(['produce', 'sparse'], 'one\n');
    await sleep(2_500);
    await ok(['produce', 'sparse'], 'two\nthree\n');
    const { code, stdout, stderr } = await consuming;
    assert.equal(code, 0, stderr);
    assert.equal(stdout, 'one\ntwo\nthree\n');
    const d = await describeJson('sparse', 'slow');
    assert.deepEqual([d.ackedTotal, d.backlogMessages, d.redeliveriesTotal], [3, 0, 0]);
  });

  test('--count whose broker dies after some messages ends at --timeout-ms, not waiting for the broker', async () => {
    const doomed = await startBroker();
    try {
      await ok(['subscription', 'create', 'gone', 'pool'], undefined, doomed.address);
      await ok(['produce', 'gone'], '1\n2\n3\n', doomed.address);
      const started = Date.now();
      const consuming = weir(['consume', 'gone', '--subscription', 'pool', '--count', '5', '--timeout-ms', '3000'], undefined, doomed.address);
      await eventually(async () => {
        const d = await describeJson('gone', 'pool', doomed.address);
        return d.inFlight + d.ackedTotal === 3 ? true : undefined;
      });
      await sleep(300); // printed once received
      doomed.process.kill('SIGKILL');
      const { code, stdout } = await consuming;
      assert.equal(stdout, '1\n2\n3\n');
      assert.equal(code, 0, 'each printed message was acknowledged');
      assert.ok(Date.now() - started < 15_000, `ended after ${Date.now() - started} ms`);
    } finally {
      await doomed.stop();
    }
  });

  test('consume --subscription whose reader goes away (| head) acknowledges what it printed before it ends', async () => {
    await ok(['topic', 'create', 'headed-queue']);
    await ok(['subscription', 'create', 'headed-queue', 'pool']);
    await ok(['produce', 'headed-queue'], `${lines(30_000, 'job').join('\n')}\n`);
    const { code, stderr } = await runCliIntoClosingReader(['consume', 'headed-queue', '--subscription', 'pool'], broker.address);
    assert.equal(code, 0, stderr);
    const d = await describeJson('headed-queue', 'pool');
    assert.ok(d.ackedTotal > 0 && d.ackedTotal < 30_000, `acknowledged ${d.ackedTotal}`);
    assert.equal(d.consumers, 0);
    assert.equal(d.inFlight, 0, 'what was not printed went back');
  });

  test('consume --subscription acknowledges only lines stdout took: after its reader read 2 lines and went away, the next messages stay on the subscription', async () => {
    await ok(['topic', 'create', 'head-two']);
    await ok(['subscription', 'create', 'head-two', 'pool', '--backoff', 'fixed:0']);
    await ok(['produce', 'head-two'], 'read-0\nread-1\n');
    const { readerGone, exited } = runCliIntoLineReader(['consume', 'head-two', '--subscription', 'pool'], broker.address, 2);
    assert.deepEqual(await readerGone, ['read-0', 'read-1']);
    // Only now: the command writes these into a pipe nobody reads any more (EPIPE).
    await ok(['produce', 'head-two'], 'unread-0\nunread-1\nunread-2\n');
    const { code, stderr } = await exited;
    assert.equal(code, 0, stderr);
    const d = await describeJson('head-two', 'pool');
    assert.equal(d.ackedTotal, 2, 'the two lines read were acknowledged, the lines stdout refused were not');
    assert.equal(d.consumers, 0);
    assert.equal(d.inFlight, 0, 'what was not written went back when the command left');
    const rest = jsonLines(await ok(['consume', 'head-two', '--subscription', 'pool', '--count', '3', '--json']));
    assert.deepEqual(rest.map((m) => m.value).sort(), ['unread-0', 'unread-1', 'unread-2']);
  });

  test('two consumers split the messages without duplicates', async () => {
    await ok(['topic', 'create', 'split', '--partitions', '2']);
    await ok(['subscription', 'create', 'split', 'pool']);
    const values = lines(40, 'task');
    const consumers = [0, 1].map(() => weir(['consume', 'split', '--subscription', 'pool', '--count', '20', '--json']));
    await sleep(300);
    await ok(['produce', 'split'], `${values.join('\n')}\n`);
    const results = await Promise.all(consumers);
    const messages = results.map((r) => {
      assert.equal(r.code, 0, r.stderr);
      return jsonLines(r.stdout);
    });
    assert.deepEqual(messages.map((m) => m.length), [20, 20]);
    const seen = messages.flat().map((m) => m.value as string);
    assert.deepEqual([...seen].sort(), [...values].sort(), 'every message once');
    for (const m of messages.flat()) {
      assert.deepEqual(Object.keys(m).sort(), ['deliveryCount', 'headers', 'key', 'offset', 'partition', 'timestamp', 'topic', 'value']);
      assert.equal(m.deliveryCount, 1, 'no message was leased to a consumer that did not print it');
    }
    const d = await describeJson('split', 'pool');
    assert.equal(d.ackedTotal, 40);
    assert.equal(d.backlogMessages, 0);
  });

  test('--no-ack leaves the messages unacknowledged; they come again', async () => {
    await ok(['subscription', 'create', 'peek', 'inspect', '--backoff', 'fixed:0']);
    await ok(['produce', 'peek'], 'a\nb\nc\n');
    assert.equal(await ok(['consume', 'peek', '--subscription', 'inspect', '--no-ack', '--count', '3', '--print-offset']), '0:0\ta\n0:1\tb\n0:2\tc\n');
    const d = await describeJson('peek', 'inspect');
    assert.equal(d.backlogMessages, 3);
    assert.equal(d.ackedTotal, 0);
    const again = jsonLines(await ok(['consume', 'peek', '--subscription', 'inspect', '--count', '3', '--json']));
    assert.deepEqual(again.map((m) => [m.value, m.deliveryCount]), [['a', 2], ['b', 2], ['c', 2]]);
    assert.equal((await describeJson('peek', 'inspect')).backlogMessages, 0);
  });

  test('--rate caps the messages per second', async () => {
    await ok(['subscription', 'create', 'paced', 'slow']);
    await ok(['produce', 'paced'], `${lines(30, 'p').join('\n')}\n`);
    const startedMs = Date.now();
    const consumed = await ok(['consume', 'paced', '--subscription', 'slow', '--rate', '20', '--count', '30']);
    const elapsedMs = Date.now() - startedMs;
    assert.equal(consumed.split('\n').length - 1, 30);
    assert.ok(elapsedMs >= 1_000, `30 messages at 20/s took ${elapsedMs} ms`);
  });
});

describe('weir produce --delay-ms and --ttl-ms', () => {
  test('a delayed message is scheduled, then delivered; an expired one is not', async () => {
    await ok(['subscription', 'create', 'later', 'timer']);
    await ok(['produce', 'later', '--delay-ms', '1500'], 'wake up\n');
    const [message] = jsonLines(await ok(['consume', 'later', '--subscription', 'timer', '--count', '1', '--json']));
    assert.equal(message.value, 'wake up');
    assert.ok(Date.now() - message.timestamp >= 1_400, 'not delivered early');

    await ok(['subscription', 'create', 'fleeting', 'readers']);
    await ok(['produce', 'fleeting', '--ttl-ms', '1'], 'stale\n');
    await sleep(50);
    await ok(['produce', 'fleeting'], 'fresh\n');
    assert.equal(await ok(['consume', 'fleeting', '--subscription', 'readers', '--timeout-ms', '700']), 'fresh\n');
  });
});

describe('weir dead-letters', () => {
  test('the dead-letter topic of a subscription that has dead-lettered nothing yet: the error says it appears with its first letter', async () => {
    await ok(['subscription', 'create', 'calm', 'readers']);
    for (const args of [['list', 'calm.readers.dlq'], ['replay', 'calm.readers.dlq', '--all']]) {
      const result = await weir(['dead-letters', ...args]);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /^weir dead-letters: UNKNOWN_TOPIC: topic calm\.readers\.dlq does not exist \(a dead-letter topic is created when its first message is dead-lettered; /, args.join(' '));
    }
  });

  test('a message past --deliveries-max is listed with its reason and replayed', async () => {
    await ok(['subscription', 'create', 'mail', 'senders', '--deliveries-max', '1', '--ack-timeout-ms', '200']);
    await ok(['produce', 'mail', '--key', 'k1'], 'poison\n');
    assert.equal(await ok(['consume', 'mail', '--subscription', 'senders', '--no-ack', '--count', '1']), 'poison\n');
    const [letter] = await eventually(async () => {
      const letters = jsonLines(await ok(['dead-letters', 'list', 'mail.senders.dlq', '--json']));
      return letters.length > 0 ? letters : undefined;
    });
    assert.equal(letter.originalTopic, 'mail');
    assert.equal(letter.originalPartition, 0);
    assert.equal(letter.originalOffset, 0);
    assert.equal(letter.subscription, 'senders');
    assert.equal(letter.deliveryCount, 1);
    assert.match(letter.reason, /delivered 1 times without an acknowledgement/);
    assert.equal(letter.value, 'poison');
    assert.equal(letter.key, 'k1');
    assert.ok(Math.abs(letter.deadLetteredAt - Date.now()) < 60_000);

    const table = await ok(['dead-letters', 'list', 'mail.senders.dlq']);
    assert.match(table, /^AT\s+ORIGINAL\s+SUBSCRIPTION\s+DELIVERIES\s+DEAD-LETTERED\s+REASON\s+VALUE\n/);
    assert.match(table, /\n0:0\s+mail 0:0\s+senders\s+1\s+\d{4}-\d\d-\d\dT[\d:.]+Z\s+delivered 1 times without an acknowledgement .*\s+poison\n/);
    assert.equal((await describeJson('mail', 'senders')).deadLettersTotal, 1);

    assert.equal(await ok(['dead-letters', 'replay', 'mail.senders.dlq', '--all']), 'replayed 1 dead letter from mail.senders.dlq to their original topics\n');
    const [replayed] = jsonLines(await ok(['consume', 'mail', '--subscription', 'senders', '--count', '1', '--json']));
    assert.deepEqual([replayed.value, replayed.key, replayed.offset, replayed.deliveryCount], ['poison', 'k1', 1, 1]);
    assert.deepEqual(replayed.headers, [], 'the dead-letter headers are not replayed');

    assert.match(await ok(['dead-letters', 'replay', 'mail.senders.dlq', '--offset', '0:0']), /^replayed 1 dead letter /);
    const missing = await weir(['dead-letters', 'replay', 'mail.senders.dlq', '--offset', '0:99']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^weir dead-letters: INVALID_REQUEST: /);
    assert.equal(await ok(['dead-letters', 'list', 'mail.senders.dlq', '--offset', '1']), 'no dead letters in mail.senders.dlq\n');
  });

  test('replay --all that fails part-way says how many it replayed before the failure', async () => {
    await ok(['subscription', 'create', 'tight', 'few', '--deliveries-max', '1', '--ack-timeout-ms', '200']);
    await ok(['produce', 'tight'], 'p0\np1\np2\n');
    assert.equal(await ok(['consume', 'tight', '--subscription', 'few', '--no-ack', '--count', '3']), 'p0\np1\np2\n');
    await eventually(async () => (jsonLines(await ok(['dead-letters', 'list', 'tight.few.dlq', '--json'])).length === 3 ? true : undefined));
    // Room for one message: the second letter's replay is refused with QUEUE_FULL.
    await ok(['subscription', 'create', 'tight', 'few', '--backlog-messages-max', '1']);
    const failed = await weir(['dead-letters', 'replay', 'tight.few.dlq', '--all']);
    assert.equal(failed.code, 1, failed.stderr);
    assert.equal(failed.stdout, '');
    assert.match(failed.stderr, /^weir dead-letters: QUEUE_FULL: replayed 1 dead letter from tight\.few\.dlq before the one at 0:1 failed: /);
    assert.equal((await describeJson('tight', 'few')).backlogMessages, 1, 'the first letter went back, and only it');
  });
});

describe('weir queue errors', () => {
  test('bad flags exit 2 naming the flag', async () => {
    const cases: [string[], RegExp][] = [
      [['consume', 't', '--subscription', 's', '--prefetch', '0'], /--prefetch "0"/],
      [['consume', 't', '--subscription', 's', '--rate', 'fast'], /--rate "fast"/],
      [['consume', 't', '--type', 'queue'], /--subscription/],
      [['consume', 't', '--type', 'fifo'], /--type "fifo"/],
      [['consume', 't', '--subscription', 's', '--group', 'g'], /--group is for --type stream/],
      [['consume', 't', '--subscription', 's', '--from', 'earliest'], /--from/],
      [['consume', 't', '--no-ack'], /--no-ack is for --type queue/],
      [['consume', 't', '--type', 'stream', '--subscription', 's'], /--subscription/],
      [['subscription', 'create', 't', 's', '--backoff', 'slow'], /--backoff "slow"/],
      [['subscription', 'create', 't', 's', '--backoff', 'exp:500:100'], /--backoff/],
      [['subscription', 'create', 't', 's', '--discard', 'keep'], /--discard "keep"/],
      [['subscription', 'create', 't', 's', '--overflow', 'block'], /--overflow "block"/],
      [['subscription', 'create', 't', 's', '--deliveries-max', '0'], /--deliveries-max "0": expected an integer from 1 to 1000\n/],
      [['subscription', 'create', 't', 's', '--deliveries-max', '1001'], /--deliveries-max "1001": expected an integer from 1 to 1000\n/],
      [['subscription', 'create', 't', 's', '--ack-timeout-ms', '99'], /--ack-timeout-ms "99": expected an integer from 100 to 43200000\n/],
      [['subscription', 'create', 't', 's', '--ack-timeout-ms', '43200001'], /--ack-timeout-ms "43200001": expected an integer from 100 to 43200000\n/],
      [['subscription', 'create', 't', 's', '--backlog-messages-max', '-5'], /--backlog-messages-max "-5": expected "none" or an integer from 1 to /],
      [['consume', 't', '--subscription', 's', '--prefetch', '-1'], /--prefetch "-1": expected an integer from 1 to /],
      [['subscription', 'create', 't', 's', '--start', 'middle'], /--start "middle"/],
      [['subscription', 'create', 't', 's', '--backlog-bytes-max', 'lots'], /--backlog-bytes-max "lots"/],
      [['subscription', 'create', 't', 's', '--frobnicate'], /--frobnicate/],
      [['subscription', 'create', 't'], /missing NAME/],
      [['subscription', 'frobnicate'], /unknown action "frobnicate"/],
      [['dead-letters', 'replay', 'd'], /--all or --offset/],
      [['dead-letters', 'replay', 'd', '--all', '--offset', '0:1'], /either --all or --offset/],
      [['dead-letters', 'replay', 'd', '--offset', '7'], /--offset "7"/],
      [['dead-letters', 'list', 'd', '--max', '0'], /--max "0"/],
      [['produce', 't', '--delay-ms', 'soon'], /--delay-ms "soon"/],
      [['produce', 't', '--ttl-ms', '0'], /--ttl-ms "0"/],
    ];
    await Promise.all(
      cases.map(async ([args, expected]) => {
        const result = await weir(args);
        assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
        assert.match(result.stderr, expected, args.join(' '));
        assert.match(result.stderr, new RegExp(`\\nweir ${args[0]} `), `${args.join(' ')} shows the usage`);
      }),
    );
    const help = await runCli(['--help']);
    for (const command of ['subscription', 'dead-letters']) assert.match(help.stdout, new RegExp(`\\n  ${command}\\s`));
  });

  test('an unknown subscription is a clear error, and consume does not create it', async () => {
    await ok(['topic', 'create', 'quiet']);
    const consumed = await weir(['consume', 'quiet', '--subscription', 'nobody', '--count', '1']);
    assert.equal(consumed.code, 1);
    assert.match(consumed.stderr, /^weir consume: UNKNOWN_SUBSCRIPTION: .*nobody.*\(create it with: weir subscription create quiet nobody\)\n$/);
    for (const action of ['describe', 'delete']) {
      const result = await weir(['subscription', action, 'quiet', 'nobody']);
      assert.equal(result.code, 1, action);
      assert.match(result.stderr, /^weir subscription: UNKNOWN_SUBSCRIPTION: .*nobody/, action);
    }
    assert.equal(jsonLines(await ok(['subscription', 'list', 'quiet', '--json'])).length, 0);
    for (const format of [[], ['--json']]) {
      const missing = await weir(['subscription', 'list', 'no-such-topic', ...format]);
      assert.equal(missing.code, 1, format.join(''));
      assert.equal(missing.stdout, '', 'no empty table');
      assert.match(missing.stderr, /^weir subscription: UNKNOWN_TOPIC: .*no-such-topic/);
    }
    const unknownTopic = await weir(['dead-letters', 'list', 'no-such-dlq']);
    assert.equal(unknownTopic.code, 1);
    assert.match(unknownTopic.stderr, /UNKNOWN_TOPIC/);
  });
});
