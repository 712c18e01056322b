import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { startTestHttp, type TestHttp } from './testing-http.js';

/** Resolves with the next frames of a WebSocket, parsed, as they arrive. */
function frames(socket: WebSocket): { next(timeoutMs?: number): Promise<any>; received: any[] } {
  const received: any[] = [];
  const waiters: ((frame: any) => void)[] = [];
  socket.on('message', (data) => {
    const frame = JSON.parse(data.toString());
    received.push(frame);
    waiters.shift()?.(frame);
  });
  let read = 0;
  return {
    received,
    next(timeoutMs = 5_000) {
      if (read < received.length) return Promise.resolve(received[read++]);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no frame within ${timeoutMs} ms`)), timeoutMs);
        waiters.push((frame) => {
          clearTimeout(timer);
          read++;
          resolve(frame);
        });
      });
    },
  };
}

function open(url: string): Promise<WebSocket> {
  const socket = new WebSocket(url);
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** `promise`, or a failure naming `what` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not arrive within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Reads SSE events from a streaming fetch body until `count` message events arrived. */
async function readEvents(body: ReadableStream<Uint8Array>, count: number): Promise<{ event: string; data: any; id?: string }[]> {
  const events: { event: string; data: any; id?: string }[] = [];
  const decoder = new TextDecoder();
  let text = '';
  const reader = body.getReader();
  while (events.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = text.indexOf('\n\n')) >= 0) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      const lines = block.split('\n');
      const event = lines.find((l) => l.startsWith('event: '))?.slice(7);
      const data = lines.find((l) => l.startsWith('data: '))?.slice(6);
      const id = lines.find((l) => l.startsWith('id: '))?.slice(4);
      if (event !== undefined && data !== undefined) events.push({ event, data: JSON.parse(data), ...(id === undefined ? {} : { id }) });
    }
  }
  await reader.cancel();
  return events;
}

describe('HTTP streams: long polling, groups, WebSocket, SSE, console files', () => {
  let http: TestHttp;
  before(async () => {
    http = await startTestHttp();
  });
  after(() => http.stop());

  test('a long poll waits and answers when data arrives', async () => {
    await http.call('POST', '/v1/topics', { name: 'poll', partitions: 2 });
    const polling = http.call('GET', '/v1/topics/poll/messages?subscription=g-poll&type=stream&from=latest&waitMs=20000');
    // The poll is parked (no answer yet) until a message arrives.
    const early = await Promise.race([polling.then(() => 'answered'), new Promise((resolve) => setTimeout(() => resolve('waiting'), 200))]);
    assert.equal(early, 'waiting');
    await http.call('POST', '/v1/topics/poll/messages', { messages: [{ value: 'wake up', partition: 1 }] });
    const answer = await polling;
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body.messages.map((m: any) => [m.partition, m.value]), [[1, 'wake up']]);
    const empty = await http.call('GET', '/v1/topics/poll/messages?subscription=g-poll&type=stream&waitMs=0');
    assert.deepEqual(empty.body.messages, []);
  });

  test('stream consume through a group: committed before answering, shared between readers', async () => {
    await http.call('POST', '/v1/topics', { name: 'grouped', partitions: 3 });
    const values = Array.from({ length: 30 }, (_, i) => `m${i}`);
    await http.call('POST', '/v1/topics/grouped/messages', { messages: values.map((value) => ({ value })) });
    const first = await http.call('GET', '/v1/topics/grouped/messages?subscription=g1&type=stream&max=10');
    assert.equal(first.body.messages.length, 10);
    // Two concurrent readers of the same group get disjoint messages.
    const [a, b] = await Promise.all([
      http.call('GET', '/v1/topics/grouped/messages?subscription=g1&max=7'),
      http.call('GET', '/v1/topics/grouped/messages?subscription=g1&max=7'),
    ]);
    const rest = await http.call('GET', '/v1/topics/grouped/messages?subscription=g1&max=100');
    const seen = [...first.body.messages, ...a.body.messages, ...b.body.messages, ...rest.body.messages].map((m: any) => m.value);
    assert.equal(seen.length, 30);
    assert.deepEqual([...seen].sort(), [...values].sort());
    const group = await http.call('GET', '/v1/groups/g1');
    assert.equal(group.body.offsets.reduce((sum: number, o: any) => sum + o.lag, 0), 0);
    assert.equal(group.body.offsets.reduce((sum: number, o: any) => sum + o.offset, 0), 30);
    // Another group starts over from the earliest offset.
    const other = await http.call('GET', '/v1/topics/grouped/messages?subscription=g2&max=100');
    assert.equal(other.body.messages.length, 30);
    const missing = await http.call('GET', '/v1/topics/grouped/messages?type=stream');
    assert.equal(missing.status, 400);
    assert.match(missing.body.error.message, /subscription is required/);
  });

  test('WebSocket stream: nothing before credits, never more than the credits, produce frames', async () => {
    await http.call('POST', '/v1/topics', { name: 'ws-topic', partitions: 2 });
    const socket = await open(`ws://127.0.0.1:${http.port}/v1/topics/ws-topic/ws?type=stream`);
    const incoming = frames(socket);
    socket.send(JSON.stringify({ type: 'produce', id: 'p1', messages: Array.from({ length: 25 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })) }));
    const produced = await incoming.next();
    assert.equal(produced.type, 'produced');
    assert.equal(produced.id, 'p1');
    assert.equal(produced.results.length, 25);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(incoming.received.length, 1, 'no messages before any credit');

    socket.send(JSON.stringify({ type: 'credit', credits: 10 }));
    let delivered = 0;
    while (delivered < 10) {
      const frame = await incoming.next();
      assert.equal(frame.type, 'messages');
      delivered += frame.messages.length;
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(delivered, 10, 'exactly the credits');
    assert.equal(incoming.received.length, 1 + incoming.received.filter((f) => f.type === 'messages').length);
    assert.equal(incoming.received.filter((f) => f.type === 'messages').reduce((n, f) => n + f.messages.length, 0), 10);

    socket.send(JSON.stringify({ type: 'credit', credits: 100 }));
    while (delivered < 25) delivered += (await incoming.next()).messages.length;
    assert.equal(delivered, 25);
    const values = incoming.received.filter((f) => f.type === 'messages').flatMap((f) => f.messages.map((m: any) => m.value));
    assert.deepEqual([...values].sort(), Array.from({ length: 25 }, (_, i) => `v${i}`).sort());

    socket.send('not json');
    const error = await incoming.next();
    assert.equal(error.type, 'error');
    assert.equal(error.error.code, 'INVALID_REQUEST');
    socket.send(JSON.stringify({ type: 'ack', id: 7, receipts: ['0.0.1.1'] }));
    const refused = await incoming.next();
    assert.equal(refused.id, 7);
    assert.match(refused.error.message, /queue subscriptions/);
    socket.close();
  });

  test('WebSocket with a group and refused upgrades', async () => {
    await http.call('POST', '/v1/topics', { name: 'ws-group' });
    await http.call('POST', '/v1/topics/ws-group/messages', { messages: [{ value: 'one' }, { value: 'two' }] });
    const socket = await open(`ws://127.0.0.1:${http.port}/v1/topics/ws-group/ws?type=stream&subscription=ws-g`);
    const incoming = frames(socket);
    socket.send(JSON.stringify({ type: 'credit', credits: 5 }));
    const frame = await incoming.next();
    assert.deepEqual(frame.messages.map((m: any) => m.value), ['one', 'two']);
    socket.close();
    const group = await http.call('GET', '/v1/groups/ws-g');
    assert.equal(group.body.offsets[0].offset, 2);

    const refused = new WebSocket(`ws://127.0.0.1:${http.port}/v1/topics/no-such-topic/ws?type=stream`);
    const status = await new Promise<number>((resolve) => refused.once('unexpected-response', (_req, res) => resolve(res.statusCode!)));
    assert.equal(status, 404);
    const plain = await http.call('GET', '/v1/topics/ws-group/ws');
    assert.equal(plain.status, 426);
  });

  test('SSE delivers messages as events', async () => {
    await http.call('POST', '/v1/topics', { name: 'sse-topic' });
    const response = await fetch(`${http.base}/v1/topics/sse-topic/events?type=stream`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type')!, /text\/event-stream/);
    const events = readEvents(response.body!, 3);
    await new Promise((resolve) => setTimeout(resolve, 50)); // the stream fixed its start (latest)
    await http.call('POST', '/v1/topics/sse-topic/messages', { messages: [{ value: 'a' }, { value: 'b' }, { value: 'c', headers: { h: 'v' } }] });
    const received = await events;
    assert.deepEqual(received.map((e) => [e.event, e.data.value]), [['message', 'a'], ['message', 'b'], ['message', 'c']]);
    assert.deepEqual(received[2]!.data.headers, { h: 'v' });
    const unknown = await fetch(`${http.base}/v1/topics/nope/events?type=stream`);
    assert.equal(unknown.status, 404);
    await unknown.body?.cancel();
  });

  test('an SSE stream from latest follows partitions added to the topic from their first message', async () => {
    await http.call('POST', '/v1/topics', { name: 'sse-grow', partitions: 1 });
    const response = await fetch(`${http.base}/v1/topics/sse-grow/events?type=stream`);
    const events = readEvents(response.body!, 2);
    await new Promise((resolve) => setTimeout(resolve, 50)); // the stream fixed its start (latest)
    assert.equal((await http.call('PATCH', '/v1/topics/sse-grow', { partitions: 2 })).status, 200);
    await http.call('POST', '/v1/topics/sse-grow/messages', { messages: [{ value: 'new partition', partition: 1 }] });
    await http.call('POST', '/v1/topics/sse-grow/messages', { messages: [{ value: 'wakes the parked read', partition: 0 }] });
    const received = (await within(events, 10_000, 'the message on the added partition')).map((e) => `${e.data.partition}:${e.data.value}`).sort();
    await response.body!.cancel().catch(() => {});
    assert.deepEqual(received, ['0:wakes the parked read', '1:new partition']);
  });

  test('an SSE stream without a subscription goes on from the Last-Event-ID a reconnecting client sends', async () => {
    await http.call('POST', '/v1/topics', { name: 'sse-resume', partitions: 2 });
    const first = await fetch(`${http.base}/v1/topics/sse-resume/events?type=stream`);
    const seen = readEvents(first.body!, 2);
    await new Promise((resolve) => setTimeout(resolve, 50)); // the stream fixed its start (latest)
    await http.call('POST', '/v1/topics/sse-resume/messages', { messages: [{ value: 'a0', partition: 0 }, { value: 'a1', partition: 1 }] });
    const events = await seen;
    const lastId = events.findLast((e) => e.id !== undefined)?.id;
    assert.equal(lastId, '0:1,1:1', 'the last event of a write names every partition\'s next offset');
    // Missed while away: two messages on each partition.
    await http.call('POST', '/v1/topics/sse-resume/messages', { messages: ['b0', 'c0'].map((value) => ({ value, partition: 0 })) });
    await http.call('POST', '/v1/topics/sse-resume/messages', { messages: ['b1', 'c1'].map((value) => ({ value, partition: 1 })) });
    const again = await fetch(`${http.base}/v1/topics/sse-resume/events?type=stream`, { headers: { 'last-event-id': lastId! } });
    const resumed = (await within(readEvents(again.body!, 4), 10_000, 'the missed messages')).map((e) => `${e.data.partition}:${e.data.value}`).sort();
    assert.deepEqual(resumed, ['0:b0', '0:c0', '1:b1', '1:c1']);
    await again.body!.cancel().catch(() => {});
    // A partition added while away is not in the id: it is read from its first message.
    assert.equal((await http.call('PATCH', '/v1/topics/sse-resume', { partitions: 3 })).status, 200);
    await http.call('POST', '/v1/topics/sse-resume/messages', { messages: [{ value: 'd2', partition: 2 }, { value: 'd0', partition: 0 }] });
    const grown = await fetch(`${http.base}/v1/topics/sse-resume/events?type=stream`, { headers: { 'last-event-id': '0:3,1:3' } });
    const caughtUp = (await within(readEvents(grown.body!, 2), 10_000, 'the messages of the added partition')).map((e) => `${e.data.partition}:${e.data.value}`).sort();
    await grown.body!.cancel().catch(() => {});
    assert.deepEqual(caughtUp, ['0:d0', '2:d2']);
    // An id this stream did not write (a partition named twice too), or one past the end, starts at the latest offset.
    for (const id of ['junk', '0:1,0:1,1:1,2:0', '0:999,1:999,2:999']) {
      const fresh = await fetch(`${http.base}/v1/topics/sse-resume/events?type=stream`, { headers: { 'last-event-id': id } });
      const next = readEvents(fresh.body!, 1);
      await new Promise((resolve) => setTimeout(resolve, 50));
      await http.call('POST', '/v1/topics/sse-resume/messages', { messages: [{ value: `after ${id}`, partition: 0 }] });
      assert.deepEqual((await within(next, 10_000, `the message after ${id}`)).map((e) => e.data.value), [`after ${id}`]);
    }
  });

  test('console files: content types, index.html, no traversal, 404 when missing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'weir-console-'));
    await mkdir(join(dir, 'console', 'assets'), { recursive: true });
    await writeFile(join(dir, 'console', 'index.html'), '<!doctype html><title>console</title>');
    await writeFile(join(dir, 'console', 'assets', 'app.js'), 'console.log(1)');
    await writeFile(join(dir, 'secret.txt'), 'do not serve');
    const served = await startTestHttp({ listener: { consoleDir: join(dir, 'console') } });
    try {
      const index = await fetch(`${served.base}/console/`);
      assert.equal(index.status, 200);
      assert.match(index.headers.get('content-type')!, /text\/html/);
      assert.match(await index.text(), /console/);
      const script = await fetch(`${served.base}/console/assets/app.js`);
      assert.match(script.headers.get('content-type')!, /text\/javascript/);
      assert.equal(await script.text(), 'console.log(1)');
      assert.equal((await fetch(`${served.base}/console/missing.css`)).status, 404);
      const bare = await fetch(`${served.base}/console`, { redirect: 'manual' });
      assert.equal(bare.headers.get('location'), '/console/');
      // fetch normalises ../ itself, so send raw request lines.
      for (const path of ['/console/../secret.txt', '/console/%2e%2e/secret.txt', '/console/assets/..%2f..%2fsecret.txt', '/console/%00']) {
        const answer = await rawGet(served.port, path);
        assert.doesNotMatch(answer, /do not serve/, path);
        assert.match(answer, /^HTTP\/1\.1 404/, path);
      }
    } finally {
      await served.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('console not built: every console path answers 503 saying how to build it, until it is built', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'weir-console-'));
    const served = await startTestHttp({ listener: { consoleDir: join(dir, 'console') } });
    try {
      for (const path of ['/console/', '/console/app.js']) {
        const answer = await fetch(`${served.base}${path}`);
        assert.equal(answer.status, 503, path);
        assert.match(answer.headers.get('content-type')!, /text\/plain/, path);
        assert.equal(answer.headers.get('cache-control'), 'no-store', path);
        assert.match(await answer.text(), /web console is not built.*\n.*Build it with `npm run build`/, path);
      }
      const head = await fetch(`${served.base}/console/`, { method: 'HEAD' });
      assert.equal(head.status, 503);
      assert.equal(await head.text(), '');
      // An empty directory is no build either; index.html appearing serves it without a restart.
      await mkdir(join(dir, 'console'));
      assert.equal((await fetch(`${served.base}/console/`)).status, 503);
      await writeFile(join(dir, 'console', 'index.html'), '<!doctype html><title>console</title>');
      const built = await fetch(`${served.base}/console/`);
      assert.equal(built.status, 200);
      assert.match(await built.text(), /<title>console<\/title>/);
    } finally {
      await served.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('close ends WebSocket sessions with 1001 and answers parked long polls', async () => {
    const closing = await startTestHttp();
    await closing.call('POST', '/v1/topics', { name: 'bye' });
    const socket = await open(`ws://127.0.0.1:${closing.port}/v1/topics/bye/ws?type=stream`);
    socket.send(JSON.stringify({ type: 'credit', credits: 10 }));
    const code = new Promise<number>((resolve) => socket.once('close', (c) => resolve(c)));
    const poll = closing.call('GET', '/v1/topics/bye/messages?subscription=g&waitMs=20000');
    await new Promise((resolve) => setTimeout(resolve, 100));
    await closing.stop();
    assert.equal(await code, 1001);
    const answered = await poll;
    assert.equal(answered.status, 200);
    assert.deepEqual(answered.body.messages, []);
  });
});

function rawGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(`GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n`));
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString()));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}
