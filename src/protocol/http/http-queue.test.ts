import assert from 'node:assert/strict';
import { get } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { startTestHttp, type TestHttp } from './testing-http.js';

const immediate = { backoff: { kind: 'fixed', delayMs: 0 } };

describe('HTTP queue subscriptions', () => {
  let http: TestHttp;
  before(async () => {
    http = await startTestHttp();
  });
  after(() => http.stop());

  /** Receives until `count` messages came (a receive answers with what is ready, maybe fewer). */
  async function receiveAll(topic: string, subscription: string, count: number): Promise<any[]> {
    const messages: any[] = [];
    for (let attempt = 0; attempt < 20 && messages.length < count; attempt++) {
      const answer = await http.call('GET', `/v1/topics/${topic}/messages?subscription=${subscription}&type=queue&max=${count - messages.length}&waitMs=2000`);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      messages.push(...answer.body.messages);
    }
    return messages;
  }

  async function produce(topic: string, values: string[]): Promise<{ status: number; body: any; headers: Headers }> {
    return http.call('POST', `/v1/topics/${topic}/messages`, { messages: values.map((value) => ({ value })) });
  }

  test('subscription administration: PUT creates (201) then updates (200), describe, list, delete', async () => {
    await http.call('POST', '/v1/topics', { name: 'q-admin' });
    const created = await http.call('PUT', '/v1/topics/q-admin/subscriptions/workers', { ackTimeoutMs: 5_000 });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.config.ackTimeoutMs, 5_000);
    assert.equal(created.body.type, 'queue');
    const updated = await http.call('PUT', '/v1/topics/q-admin/subscriptions/workers', { ackTimeoutMs: 6_000 });
    assert.equal(updated.status, 200);
    assert.equal(updated.body.config.ackTimeoutMs, 6_000);
    // Of a topic not there yet: both are created (the broker creates topics on first use).
    const fresh = await http.call('PUT', '/v1/topics/q-admin-fresh/subscriptions/workers', {});
    assert.equal(fresh.status, 201, JSON.stringify(fresh.body));
    assert.equal((await http.call('GET', '/v1/topics/q-nowhere/subscriptions/workers')).body.error.code, 'UNKNOWN_TOPIC');
    const bad = await http.call('PUT', '/v1/topics/q-admin/subscriptions/workers', { ackTimeoutMs: 'soon' });
    assert.equal(bad.status, 400);
    assert.equal((await http.call('PUT', '/v1/topics/q-admin/subscriptions/workers', { colour: 1 })).status, 400);
    assert.equal((await http.call('GET', '/v1/topics/q-admin/subscriptions/workers')).body.name, 'workers');
    const listed = await http.call('GET', '/v1/subscriptions?topic=q-admin');
    assert.deepEqual(listed.body.subscriptions.map((s: any) => s.name), ['workers']);
    assert.equal((await http.call('DELETE', '/v1/topics/q-admin/subscriptions/workers')).status, 204);
    const gone = await http.call('GET', '/v1/topics/q-admin/subscriptions/workers');
    assert.equal(gone.status, 404);
    assert.equal(gone.body.error.code, 'UNKNOWN_SUBSCRIPTION');
    const receiveGone = await http.call('GET', '/v1/topics/q-admin/messages?subscription=workers&type=queue');
    assert.equal(receiveGone.status, 404);
  });

  test('an invalid deadLetterTopic is refused with 400 naming the setting', async () => {
    for (const deadLetterTopic of ['__queue_state', 'no spaces']) {
      const answer = await http.call('PUT', '/v1/topics/dlq-named/subscriptions/w', { deadLetterTopic });
      assert.equal(answer.status, 400, JSON.stringify(answer.body));
      assert.equal(answer.body.error.code, 'INVALID_TOPIC');
      assert.match(answer.body.error.message, /^deadLetterTopic /, answer.body.error.message);
    }
  });

  test('receive, ack, nack (redelivered with a higher count), stale and garbage receipts', async () => {
    await http.call('POST', '/v1/topics', { name: 'jobs', partitions: 2 });
    await http.call('PUT', '/v1/topics/jobs/subscriptions/w', immediate);
    await produce('jobs', ['j1', 'j2', 'j3']);
    const first = { body: { messages: await receiveAll('jobs', 'w', 3) } };
    assert.equal(first.body.messages.length, 3, JSON.stringify(first.body));
    for (const m of first.body.messages) {
      assert.equal(m.deliveryCount, 1);
      assert.equal(typeof m.receipt, 'string');
    }
    const byValue = new Map(first.body.messages.map((m: any) => [m.value, m]));
    const acked = await http.call('POST', '/v1/topics/jobs/subscriptions/w/ack', { receipts: [(byValue.get('j1') as any).receipt, (byValue.get('j2') as any).receipt] });
    assert.deepEqual(acked.body.results, [null, null]);
    const nacked = await http.call('POST', '/v1/topics/jobs/subscriptions/w/nack', { receipts: [(byValue.get('j3') as any).receipt] });
    assert.deepEqual(nacked.body.results, [null]);
    const again = await http.call('GET', '/v1/topics/jobs/messages?subscription=w&type=queue&max=10&waitMs=5000');
    assert.deepEqual(again.body.messages.map((m: any) => [m.value, m.deliveryCount]), [['j3', 2]]);
    const stale = await http.call('POST', '/v1/topics/jobs/subscriptions/w/ack', { receipts: [(byValue.get('j3') as any).receipt] });
    assert.equal(stale.status, 200);
    assert.equal(stale.body.results[0].code, 'INVALID_RECEIPT');
    const extended = await http.call('POST', '/v1/topics/jobs/subscriptions/w/extend', { receipts: [again.body.messages[0].receipt], extendMs: 10_000 });
    assert.deepEqual(extended.body.results, [null]);
    assert.deepEqual((await http.call('POST', '/v1/topics/jobs/subscriptions/w/ack', { receipts: [again.body.messages[0].receipt] })).body.results, [null]);

    for (const receipts of [['garbage'], ['1.2'], ['1.2.3'], ['1.2.3.4.5'], [12], ['0.99999999999999999999.1.1'], ['0.1.0.1'], ['0.1.1.4294967296']]) {
      const answer = await http.call('POST', '/v1/topics/jobs/subscriptions/w/ack', { receipts });
      assert.equal(answer.status, 400, JSON.stringify(receipts));
      assert.equal(answer.body.error.code, 'INVALID_RECEIPT');
    }
    // Offsets from 2^53 up parse, but no partition holds them: refused, never rounded onto others.
    const epoch = (again.body.messages[0].receipt as string).split('.')[3];
    for (const action of ['ack', 'nack', 'reject']) {
      const far = await http.call('POST', `/v1/topics/jobs/subscriptions/w/${action}`, {
        receipts: [`0.9007199254740991.1.${epoch}`, `0.9007199254740992.1.${epoch}`, `0.9223372036854775807.1.${epoch}`],
        ...(action === 'reject' ? { reason: 'far' } : {}),
      });
      assert.deepEqual(far.body.results.map((result: { code: string } | null) => result?.code), ['INVALID_RECEIPT', 'INVALID_RECEIPT', 'INVALID_RECEIPT'], action);
    }
    assert.equal((await http.call('POST', '/v1/topics/jobs/subscriptions/w/ack', { receipts: [] })).status, 400);
    assert.equal((await http.call('POST', '/v1/topics/jobs/subscriptions/w/extend', { receipts: ['0.1.1.1'] })).status, 400);
    const description = await http.call('GET', '/v1/topics/jobs/subscriptions/w');
    assert.equal(description.body.backlogMessages, 0);
    assert.equal(description.body.ackedTotal, 3);
  });

  test('a nack delay or an extension past the broker\'s 7 days is refused whole with 400 naming the limit, and the lease is kept', async () => {
    await http.call('PUT', '/v1/topics/far-settle/subscriptions/w', {});
    await produce('far-settle', ['f1']);
    const [message] = await receiveAll('far-settle', 'w', 1);
    const weekMs = 7 * 24 * 3_600_000;
    for (const [action, body] of [['nack', { delayMs: weekMs + 1 }], ['extend', { extendMs: weekMs + 1 }]] as const) {
      const answer = await http.call('POST', `/v1/topics/far-settle/subscriptions/w/${action}`, { receipts: [message.receipt], ...body });
      assert.equal(answer.status, 400, `${action}: ${JSON.stringify(answer.body)}`);
      assert.equal(answer.body.error.code, 'INVALID_REQUEST');
      assert.match(answer.body.error.message, new RegExp(`from \\d+ to ${weekMs}, got ${weekMs + 1}`));
    }
    const extended = await http.call('POST', '/v1/topics/far-settle/subscriptions/w/extend', { receipts: [message.receipt], extendMs: weekMs });
    assert.deepEqual(extended.body.results, [null]);
    assert.deepEqual((await http.call('POST', '/v1/topics/far-settle/subscriptions/w/ack', { receipts: [message.receipt] })).body.results, [null]);
  });

  test('release: delivered again at once with its delivery count not raised (a nack raises it), the released receipt is stale', async () => {
    await http.call('POST', '/v1/topics', { name: 'given-back' });
    // A backoff no test waits out: only a release comes back at once.
    await http.call('PUT', '/v1/topics/given-back/subscriptions/w', { backoff: { kind: 'fixed', delayMs: 600_000 } });
    await produce('given-back', ['kept', 'failed']);
    const first = await receiveAll('given-back', 'w', 2);
    assert.deepEqual(first.map((m) => [m.value, m.deliveryCount]), [['kept', 1], ['failed', 1]]);
    const [kept, failed] = first;
    const released = await http.call('POST', '/v1/topics/given-back/subscriptions/w/release', { receipts: [kept.receipt] });
    assert.equal(released.status, 200, JSON.stringify(released.body));
    assert.deepEqual(released.body.results, [null]);
    const nacked = await http.call('POST', '/v1/topics/given-back/subscriptions/w/nack', { receipts: [failed.receipt], delayMs: 0 });
    assert.deepEqual(nacked.body.results, [null]);
    const again = await receiveAll('given-back', 'w', 2);
    assert.deepEqual(again.map((m) => [m.value, m.deliveryCount]).sort(), [['failed', 2], ['kept', 1]]);
    const keptAgain = again.find((m) => m.value === 'kept');
    assert.notEqual(keptAgain.receipt, kept.receipt, 'the next delivery has a receipt of its own');

    for (const action of ['ack', 'release']) {
      const stale = await http.call('POST', `/v1/topics/given-back/subscriptions/w/${action}`, { receipts: [kept.receipt] });
      assert.equal(stale.status, 200, action);
      assert.equal(stale.body.results[0].code, 'INVALID_RECEIPT', action);
    }
    // Refusals answer as the ack route's do.
    for (const [path, body] of [
      ['/v1/topics/given-back/subscriptions/w', { receipts: ['garbage'] }],
      ['/v1/topics/given-back/subscriptions/w', { receipts: [] }],
      ['/v1/topics/given-back/subscriptions/w', { receipts: [keptAgain.receipt], delayMs: 0 }],
      ['/v1/topics/given-back/subscriptions/nobody', { receipts: [keptAgain.receipt] }],
      ['/v1/topics/no-such-topic/subscriptions/w', { receipts: [keptAgain.receipt] }],
    ] as const) {
      const release = await http.call('POST', `${path}/release`, body);
      const ack = await http.call('POST', `${path}/ack`, body);
      assert.ok(release.status >= 400, JSON.stringify([path, body, release.body]));
      assert.deepEqual([release.status, release.body.error.code], [ack.status, ack.body.error.code], JSON.stringify([path, body]));
    }
    assert.deepEqual((await http.call('POST', '/v1/topics/given-back/subscriptions/w/ack', { receipts: again.map((m) => m.receipt) })).body.results, [null, null]);
    const description = (await http.call('GET', '/v1/topics/given-back/subscriptions/w')).body;
    assert.deepEqual([description.backlogMessages, description.redeliveriesTotal], [0, 1], 'a release is no redelivery');
  });

  test('a queue long poll waits and answers when a message arrives', async () => {
    await http.call('PUT', '/v1/topics/later/subscriptions/w', {});
    const polling = http.call('GET', '/v1/topics/later/messages?subscription=w&type=queue&waitMs=20000');
    const early = await Promise.race([polling.then(() => 'answered'), new Promise((resolve) => setTimeout(() => resolve('waiting'), 200))]);
    assert.equal(early, 'waiting');
    await produce('later', ['arrived']);
    const answer = await polling;
    assert.deepEqual(answer.body.messages.map((m: any) => m.value), ['arrived']);
  });

  test('QUEUE_FULL is a 429 with retry-after, and nothing of the refused request is stored', async () => {
    await http.call('POST', '/v1/topics', { name: 'bounded' });
    await http.call('PUT', '/v1/topics/bounded/subscriptions/w', { backlogMessagesMax: 2, overflow: 'reject' });
    assert.equal((await produce('bounded', ['a', 'b'])).status, 200);
    const full = await produce('bounded', ['c']);
    assert.equal(full.status, 429);
    assert.equal(full.body.error.code, 'QUEUE_FULL');
    assert.equal(full.body.error.retriable, true);
    assert.equal(full.headers.get('retry-after'), '1');
    assert.equal((await http.call('GET', '/v1/topics/bounded')).body.partitions[0].offsetEnd, 2);
  });

  test('rejected messages are dead-lettered with the reason; replay brings them back', async () => {
    await http.call('POST', '/v1/topics', { name: 'fragile' });
    // Created up front: two letters that auto-create the dead-letter topic at once race in the broker core.
    await http.call('POST', '/v1/topics', { name: 'fragile.w.dlq' });
    await http.call('PUT', '/v1/topics/fragile/subscriptions/w', immediate);
    await produce('fragile', ['bad-1', 'bad-2', 'good']);
    const received = await receiveAll('fragile', 'w', 3);
    const receiptOf = (value: string): string => received.find((m: any) => m.value === value).receipt;
    const rejected = await http.call('POST', '/v1/topics/fragile/subscriptions/w/reject', { receipts: [receiptOf('bad-1'), receiptOf('bad-2')], reason: 'cannot parse' });
    assert.deepEqual(rejected.body.results, [null, null]);
    assert.equal((await http.call('POST', '/v1/topics/fragile/subscriptions/w/reject', { receipts: [receiptOf('good')] })).status, 400, 'reason is required');
    for (const [reason, what] of [['', 'it is empty'], [' \t', 'it is only white space']]) {
      const blank = await http.call('POST', '/v1/topics/fragile/subscriptions/w/reject', { receipts: [receiptOf('good')], reason });
      assert.equal(blank.status, 400, JSON.stringify(reason));
      assert.deepEqual(blank.body.error, { code: 'INVALID_REQUEST', message: `a reject's reason must say why the message is rejected: ${what}`, retriable: false });
    }
    await http.call('POST', '/v1/topics/fragile/subscriptions/w/ack', { receipts: [receiptOf('good')] });

    let letters: any[] = [];
    for (let attempt = 0; attempt < 50 && letters.length < 2; attempt++) {
      const listed = await http.call('GET', '/v1/dead-letters/fragile.w.dlq');
      letters = listed.status === 200 ? listed.body.deadLetters : [];
      if (letters.length < 2) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.deepEqual(letters.map((l) => [l.value, l.reason, l.originalTopic, l.subscription]).sort(), [
      ['bad-1', 'rejected: cannot parse', 'fragile', 'w'],
      ['bad-2', 'rejected: cannot parse', 'fragile', 'w'],
    ]);
    const one = letters.find((l) => l.value === 'bad-2');
    const replayed = await http.call('POST', '/v1/dead-letters/fragile.w.dlq/replay', { select: [{ partition: one.partition, offset: one.offset }] });
    assert.deepEqual(replayed.body, { replayed: 1 });
    const back = await http.call('GET', '/v1/topics/fragile/messages?subscription=w&type=queue&max=10&waitMs=5000');
    assert.deepEqual(back.body.messages.map((m: any) => m.value), ['bad-2']);
    assert.equal((await http.call('POST', '/v1/dead-letters/fragile.w.dlq/replay', { select: [{ partition: 0 }] })).status, 400);
    assert.equal((await http.call('GET', '/v1/dead-letters/no-such-dlq')).status, 404);
  });

  test('a reject reason over 1,000 characters is cut to its first 1,000, as the client cuts it, never in half of a surrogate pair', async () => {
    await http.call('POST', '/v1/topics', { name: 'wordy' });
    await http.call('POST', '/v1/topics', { name: 'wordy.w.dlq' });
    await http.call('PUT', '/v1/topics/wordy/subscriptions/w', immediate);
    await produce('wordy', ['long', 'pair']);
    const received = await receiveAll('wordy', 'w', 2);
    const receiptOf = (value: string): string => received.find((m: any) => m.value === value).receipt;
    const long = 'x'.repeat(1_500);
    const pair = `${'y'.repeat(999)}😀z`; // the cut at 1,000 falls between the emoji's two halves
    for (const [value, reason] of [['long', long], ['pair', pair]]) {
      const rejected = await http.call('POST', '/v1/topics/wordy/subscriptions/w/reject', { receipts: [receiptOf(value!)], reason });
      assert.equal(rejected.status, 200, JSON.stringify(rejected.body));
      assert.deepEqual(rejected.body.results, [null]);
    }
    const letters = (await http.call('GET', '/v1/dead-letters/wordy.w.dlq')).body.deadLetters;
    assert.deepEqual(letters.map((l: any) => [l.value, l.reason]).sort(), [
      ['long', `rejected: ${'x'.repeat(1_000)}`],
      ['pair', `rejected: ${'y'.repeat(999)}`],
    ]);
  });

  test('a replay selecting dead letters that do not exist is refused naming them as P:O, the first 10 then a count of the rest', async () => {
    await http.call('POST', '/v1/topics', { name: 'sparse' });
    await http.call('POST', '/v1/topics', { name: 'sparse.w.dlq' });
    await http.call('PUT', '/v1/topics/sparse/subscriptions/w', immediate);
    await produce('sparse', ['bad']);
    const [received] = await receiveAll('sparse', 'w', 1);
    const rejected = await http.call('POST', '/v1/topics/sparse/subscriptions/w/reject', { receipts: [received.receipt], reason: 'cannot parse' });
    assert.deepEqual(rejected.body.results, [null], 'the answer comes once the letter is written');
    const [letter] = (await http.call('GET', '/v1/dead-letters/sparse.w.dlq')).body.deadLetters;
    const beyond = Number(letter.offset) + 1;

    const one = await http.call('POST', '/v1/dead-letters/sparse.w.dlq/replay', { select: [{ partition: letter.partition, offset: Number(letter.offset) }, { partition: letter.partition, offset: beyond }] });
    assert.equal(one.status, 400);
    assert.deepEqual(one.body.error, {
      code: 'INVALID_REQUEST',
      message: `1 of the selected dead letters of sparse.w.dlq does not exist: ${letter.partition}:${beyond} (replayed 1)`,
      retriable: false,
    });

    const many = await http.call('POST', '/v1/dead-letters/sparse.w.dlq/replay', { select: Array.from({ length: 12 }, (_, i) => ({ partition: letter.partition, offset: beyond + i })) });
    assert.equal(many.status, 400);
    const named = Array.from({ length: 10 }, (_, i) => `${letter.partition}:${beyond + i}`).join(', ');
    assert.equal(many.body.error.message, `12 of the selected dead letters of sparse.w.dlq do not exist: ${named} and 2 more (replayed 0)`);
  });

  test('a dead letter shows the message as other reads do (timestamp, not timestampMs), then its origin and reason', async () => {
    await http.call('POST', '/v1/topics', { name: 'lettered' });
    await http.call('POST', '/v1/topics', { name: 'lettered.w.dlq' });
    await http.call('PUT', '/v1/topics/lettered/subscriptions/w', immediate);
    await http.call('POST', '/v1/topics/lettered/messages', { messages: [{ key: 'k', value: 'bad', headers: { trace: 't' } }] });
    const [received] = await receiveAll('lettered', 'w', 1);
    await http.call('POST', '/v1/topics/lettered/subscriptions/w/reject', { receipts: [received.receipt], reason: 'cannot parse' });
    let letters: any[] = [];
    for (let attempt = 0; attempt < 50 && letters.length < 1; attempt++) {
      letters = (await http.call('GET', '/v1/dead-letters/lettered.w.dlq?encoding=base64')).body.deadLetters ?? [];
      if (letters.length < 1) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const [letter] = letters;
    const browsed = (await http.call('GET', `/v1/topics/lettered.w.dlq/partitions/${letter.partition}/messages?offset=${letter.offset}&max=1&encoding=base64`)).body.messages[0];
    // The message fields are those of a browse of the dead-letter topic, in the same order, with the same encoding.
    const messageFields = ['partition', 'offset', 'timestamp', 'key', 'value'];
    assert.deepEqual(Object.keys(letter).slice(0, 6), [...messageFields, 'headers']);
    assert.deepEqual(messageFields.map((f) => letter[f]), messageFields.map((f) => browsed[f]));
    assert.equal(letter.key, Buffer.from('k').toString('base64'));
    assert.deepEqual(letter.headers, { trace: Buffer.from('t').toString('base64') });
    assert.equal(typeof letter.timestamp, 'number');
    assert.ok(!('timestampMs' in letter));
    assert.deepEqual(
      [letter.deliveryCount, letter.originalTopic, letter.originalPartition, letter.originalOffset, letter.subscription, letter.reason],
      [1, 'lettered', received.partition, received.offset, 'w', 'rejected: cannot parse'],
    );
    assert.ok(letter.deadLetteredAtMs >= letter.timestamp);
  });

  test('WebSocket queue: credits bound deliveries, acks over the socket, leases return when it closes', async () => {
    await http.call('POST', '/v1/topics', { name: 'ws-jobs' });
    await http.call('PUT', '/v1/topics/ws-jobs/subscriptions/w', immediate);
    await produce('ws-jobs', Array.from({ length: 8 }, (_, i) => `job${i}`));
    const socket = new WebSocket(`ws://127.0.0.1:${http.port}/v1/topics/ws-jobs/ws?type=queue&subscription=w`);
    const received: any[] = [];
    const waiters: (() => void)[] = [];
    socket.on('message', (data) => {
      received.push(JSON.parse(data.toString()));
      waiters.splice(0).forEach((w) => w());
    });
    const until = async (check: () => boolean): Promise<void> => {
      for (let i = 0; i < 100 && !check(); i++) await new Promise<void>((resolve) => { waiters.push(resolve); setTimeout(resolve, 100); });
      assert.ok(check(), JSON.stringify(received));
    };
    await new Promise((resolve) => socket.once('open', resolve));
    socket.send(JSON.stringify({ type: 'credit', credits: 3 }));
    const delivered = (): any[] => received.filter((f) => f.type === 'messages').flatMap((f) => f.messages);
    await until(() => delivered().length >= 3);
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(delivered().length, 3, 'no more than the credits');
    socket.send(JSON.stringify({ type: 'ack', id: 'a1', receipts: delivered().map((m) => m.receipt) }));
    await until(() => received.some((f) => f.type === 'settled'));
    assert.deepEqual(received.find((f) => f.type === 'settled'), { type: 'settled', id: 'a1', results: [null, null, null] });
    socket.send(JSON.stringify({ type: 'credit', credits: 2 }));
    await until(() => delivered().length >= 5);
    socket.close();
    await new Promise((resolve) => socket.once('close', resolve));
    // The two unacknowledged messages come back (with their delivery count raised) after the close.
    const rest = await receiveAll('ws-jobs', 'w', 5);
    assert.equal(rest.length, 5, JSON.stringify(rest));
    assert.equal(rest.filter((m: any) => m.deliveryCount === 2).length, 2);
  });

  test('WebSocket queue: a released message comes back at once, ahead of fresh ones, its delivery count not raised', async () => {
    await http.call('POST', '/v1/topics', { name: 'ws-given-back' });
    await http.call('PUT', '/v1/topics/ws-given-back/subscriptions/w', { backoff: { kind: 'fixed', delayMs: 600_000 } });
    await produce('ws-given-back', ['first', 'second']);
    const socket = new WebSocket(`ws://127.0.0.1:${http.port}/v1/topics/ws-given-back/ws?type=queue&subscription=w`);
    const frames: any[] = [];
    let arrived: (() => void) | null = null;
    socket.on('message', (data) => {
      frames.push(JSON.parse(data.toString()));
      arrived?.();
    });
    /** The next frame (frames arrive in order); fails the test if none comes in 5 s. */
    let read = 0;
    const next = async (): Promise<any> => {
      if (read === frames.length) {
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve, reject) => {
          arrived = resolve;
          timer = setTimeout(() => reject(new Error(`no frame within 5 s after ${JSON.stringify(frames)}`)), 5_000);
        }).finally(() => clearTimeout(timer));
        arrived = null;
      }
      return frames[read++];
    };
    try {
      await new Promise((resolve) => socket.once('open', resolve));
      socket.send(JSON.stringify({ type: 'credit', credits: 1 }));
      const delivered = await next();
      assert.deepEqual(delivered.messages.map((m: any) => [m.value, m.deliveryCount]), [['first', 1]]);
      const { receipt } = delivered.messages[0];
      socket.send(JSON.stringify({ type: 'release', id: 'r1', receipts: [receipt] }));
      assert.deepEqual(await next(), { type: 'settled', id: 'r1', results: [null] });
      socket.send(JSON.stringify({ type: 'credit', credits: 1 }));
      const again = await next();
      assert.deepEqual(again.messages.map((m: any) => [m.value, m.deliveryCount]), [['first', 1]]);
      socket.send(JSON.stringify({ type: 'ack', id: 'a1', receipts: [receipt, again.messages[0].receipt] }));
      const settled = await next();
      assert.equal(settled.id, 'a1');
      assert.deepEqual(settled.results.map((r: { code: string } | null) => r?.code ?? null), ['INVALID_RECEIPT', null]);
      socket.send(JSON.stringify({ type: 'release', id: 'r2', receipts: ['garbage'] }));
      const refused = await next();
      assert.deepEqual([refused.type, refused.id, refused.error.code], ['error', 'r2', 'INVALID_RECEIPT']);
    } finally {
      socket.close();
      await new Promise((resolve) => socket.once('close', resolve));
    }
  });

  test('WebSocket queue: credits past the cap are capped, not refused; deleting the subscription closes the session with 4404', async () => {
    await http.call('POST', '/v1/topics', { name: 'ws-doomed' });
    await http.call('PUT', '/v1/topics/ws-doomed/subscriptions/w', {});
    await produce('ws-doomed', ['d1']);
    const socket = new WebSocket(`ws://127.0.0.1:${http.port}/v1/topics/ws-doomed/ws?type=queue&subscription=w`);
    const received: any[] = [];
    socket.on('message', (data) => received.push(JSON.parse(data.toString())));
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    await new Promise((resolve) => socket.once('open', resolve));
    socket.send(JSON.stringify({ type: 'credit', credits: 1_000_000 }));
    for (let i = 0; i < 100 && !received.some((f) => f.type === 'messages'); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(received.map((f) => f.type), ['messages'], JSON.stringify(received));
    assert.equal((await http.call('DELETE', '/v1/topics/ws-doomed/subscriptions/w')).status, 204);
    assert.equal(await closed, 4404);
    const error = received.find((f) => f.type === 'error');
    assert.equal(error?.error.code, 'UNKNOWN_SUBSCRIPTION', JSON.stringify(received));
    assert.match(error.error.message, /subscription w of topic ws-doomed was deleted/);
  });

  test('WebSocket queue: a session holding no credits closes with 4404 when the subscription is deleted, and does not create it again', async () => {
    await http.call('PUT', '/v1/topics/ws-idle-doomed/subscriptions/w', {});
    const socket = new WebSocket(`ws://127.0.0.1:${http.port}/v1/topics/ws-idle-doomed/ws?type=queue&subscription=w`);
    const received: any[] = [];
    socket.on('message', (data) => received.push(JSON.parse(data.toString())));
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    await new Promise((resolve) => socket.once('open', resolve));
    assert.equal((await http.call('DELETE', '/v1/topics/ws-idle-doomed/subscriptions/w')).status, 204);
    // A client that grants credits now (it could not know) must not bring the subscription back.
    socket.send(JSON.stringify({ type: 'credit', credits: 1 }));
    let timer: NodeJS.Timeout | undefined;
    const noClose = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`the session stayed open: ${JSON.stringify(received)}`)), 5_000)));
    try {
      assert.equal(await Promise.race([closed, noClose]), 4404);
    } finally {
      clearTimeout(timer);
      socket.terminate();
    }
    assert.equal(received.find((f) => f.type === 'error')?.error.code, 'UNKNOWN_SUBSCRIPTION', JSON.stringify(received));
    assert.equal((await http.call('GET', '/v1/topics/ws-idle-doomed/subscriptions/w')).status, 404);
  });

  test('SSE queue: deliveries are acknowledged as they are sent', async () => {
    await http.call('POST', '/v1/topics', { name: 'sse-jobs' });
    await http.call('PUT', '/v1/topics/sse-jobs/subscriptions/w', {});
    await produce('sse-jobs', ['s1', 's2', 's3']);
    const response = await fetch(`${http.base}/v1/topics/sse-jobs/events?type=queue&subscription=w`);
    const reader = response.body!.getReader();
    let text = '';
    for (let i = 0; i < 100 && (text.match(/event: message/g) ?? []).length < 3; i++) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
    }
    await reader.cancel();
    const values = [...text.matchAll(/^data: (.*)$/gm)].map((m) => JSON.parse(m[1]!).value);
    assert.deepEqual(values, ['s1', 's2', 's3']);
    let backlog = -1;
    for (let i = 0; i < 50 && backlog !== 0; i++) {
      backlog = (await http.call('GET', '/v1/topics/sse-jobs/subscriptions/w')).body.backlogMessages;
      if (backlog !== 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(backlog, 0);
  });

  test('SSE: a reader that stops reading holds the stream back (TCP backpressure), then gets everything', async () => {
    const count = 10_000;
    await http.call('POST', '/v1/topics', { name: 'sse-slow', config: { messageBytesMax: 4 * 1024 * 1024 } });
    await http.call('PUT', '/v1/topics/sse-slow/subscriptions/w', {});
    const value = 'v'.repeat(2_000);
    for (let sent = 0; sent < count; sent += 1_000) {
      assert.equal((await produce('sse-slow', Array.from({ length: 1_000 }, () => value))).status, 200);
    }
    const acked = async (): Promise<number> => (await http.call('GET', '/v1/topics/sse-slow/subscriptions/w')).body.ackedTotal;
    const response = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      get(`${http.base}/v1/topics/sse-slow/events?type=queue&subscription=w`, resolve).on('error', reject);
    });
    response.pause(); // read nothing: the socket's buffers fill and the server must stop sending
    let previous = -1;
    let now = await acked();
    for (let i = 0; i < 40 && now !== previous; i++) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      previous = now;
      now = await acked();
    }
    assert.equal(now, previous, 'the acknowledged count settled while the client did not read');
    assert.ok(now < count, `the server ran ahead of a reader that did not read: ${now} of ${count} sent`);
    let events = 0;
    let tail = '';
    response.on('data', (chunk: Buffer) => {
      const text = tail + chunk.toString();
      const parts = text.split('event: message\n');
      events += parts.length - 1;
      tail = parts.at(-1)!.slice(-20);
    });
    response.resume();
    for (let i = 0; i < 200 && events < count; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(events, count);
    response.destroy();
    assert.equal(await acked(), count);
  });
});
