import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { browserRefusal } from './browser-guard.js';
import { clientErrorOf } from './http-listener.js';
import { startTestHttp, type TestHttp } from './testing-http.js';

/** A request with headers fetch would not send as given (Host, Origin, Upgrade, HEAD); fails when no whole answer comes within 5 s. */
function raw(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; text: string; headers: IncomingMessage['headers'] }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, text, headers: res.headers }));
    });
    req.setTimeout(5_000, () => req.destroy(new Error(`${method} ${path}: no whole answer within 5 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** A request whose body stops after `sent` of its declared bytes; `answer` is what the server writes back. */
function stalledBody(port: number, path: string, declaredBytes: number, sent: string): { socket: Socket; answer: Promise<string> } {
  const socket = connect(port, '127.0.0.1');
  socket.write(`POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${declaredBytes}\r\n\r\n${sent}`);
  const answer = new Promise<string>((resolve) => {
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString()));
    socket.on('close', () => resolve(text));
    socket.on('error', () => {});
  });
  return { socket, answer };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Joins `group` as a live member through the broker, as a Kafka client would. */
async function joinAsKafkaMember(http: TestHttp, group: string): Promise<void> {
  await http.broker.joinGroup({
    groupId: group, memberId: '', clientId: 'test', clientHost: '127.0.0.1', sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000,
    protocolType: 'consumer', protocols: [{ name: 'roundrobin', metadata: Buffer.from([1]) }],
  });
}

/** The HTTP status a WebSocket upgrade is refused with, or 101 when it opens. */
function upgradeStatus(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, { headers });
    socket.on('open', () => {
      socket.close();
      resolve(101);
    });
    socket.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode!);
      res.resume();
    });
    socket.on('error', () => {});
  });
}

describe('HTTP API: hostile and unusual requests', () => {
  let http: TestHttp;
  before(async () => {
    http = await startTestHttp();
  });
  after(() => http.stop());

  test('a produce that would create a topic without the partition it names is refused, and makes no topic', async () => {
    const fresh = await http.call('POST', '/v1/topics/unmade/messages', { messages: [{ value: 'p0', partition: 0 }, { value: 'p3', partition: 3 }] });
    assert.equal(fresh.status, 404);
    assert.equal(fresh.body.error.code, 'UNKNOWN_PARTITION');
    assert.equal((await http.call('GET', '/v1/topics/unmade')).status, 404);
  });

  test('a body that is not UTF-8 is refused with nothing stored, not decoded with replacement characters', async () => {
    await http.call('POST', '/v1/topics', { name: 'texts' });
    const body = Buffer.concat([Buffer.from('{"messages":[{"value":"caf'), Buffer.from([0xe9]), Buffer.from('"}]}')]); // Latin-1 é
    const answer = await fetch(`${http.base}/v1/topics/texts/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    assert.equal(answer.status, 400);
    const { error } = (await answer.json()) as { error: { code: string; message: string } };
    assert.equal(error.code, 'INVALID_REQUEST');
    assert.match(error.message, /not valid UTF-8/);
    assert.equal((await http.call('GET', '/v1/topics/texts')).body.partitions[0].offsetEnd, 0);
    // The same text in UTF-8 is stored as sent.
    const utf8 = await fetch(`${http.base}/v1/topics/texts/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from('{"messages":[{"value":"café"}]}') });
    assert.equal(utf8.status, 200);
    assert.equal((await http.call('GET', '/v1/topics/texts/partitions/0/messages?offset=0')).body.messages[0].value, 'café');
  });

  test('a group name with a control character is refused and moves no other group', async () => {
    await http.call('POST', '/v1/topics', { name: 'ledger', partitions: 1 });
    await http.call('POST', '/v1/topics/ledger/messages', { messages: ['a', 'b', 'c', 'd', 'e'].map((value) => ({ value })) });
    const first = await http.call('GET', '/v1/topics/ledger/messages?subscription=victim&type=stream&max=2&waitMs=0');
    assert.deepEqual(first.body.messages.map((m: any) => m.value), ['a', 'b']);
    for (const name of ['victim%00ledger%000', 'abc%00', '%00', 'tab%09']) {
      const answer = await http.call('GET', `/v1/topics/ledger/messages?subscription=${name}&type=stream&max=5&waitMs=0`);
      assert.equal(answer.status, 400, name);
      assert.equal(answer.body.error.code, 'INVALID_GROUP_ID');
    }
    const next = await http.call('GET', '/v1/topics/ledger/messages?subscription=victim&type=stream&max=5&waitMs=0');
    assert.deepEqual(next.body.messages.map((m: any) => m.value), ['c', 'd', 'e']);
    assert.deepEqual((await http.call('GET', '/v1/groups')).body.groups.map((g: any) => g.groupId), ['victim']);
  });

  test('/metrics still answers after a topic a group had offsets on is deleted, and the group is gone', async () => {
    await http.call('POST', '/v1/topics', { name: 'short-lived' });
    await http.call('POST', '/v1/topics/short-lived/messages', { messages: [{ value: 'x' }] });
    await http.call('GET', '/v1/topics/short-lived/messages?subscription=lived&type=stream&waitMs=0');
    assert.equal((await http.call('GET', '/v1/groups/lived')).status, 200);
    assert.equal((await http.call('DELETE', '/v1/topics/short-lived')).status, 204);
    const metrics = await fetch(`${http.base}/metrics`);
    assert.equal(metrics.status, 200, await metrics.clone().text());
    assert.match(await metrics.text(), /weir_topic_messages|weir_/);
    assert.ok(!(await http.call('GET', '/v1/groups')).body.groups.some((g: any) => g.groupId === 'lived'));
  });

  test('long polls of one group, and of one queue subscription past its pool, each answer within their own waitMs', async () => {
    await http.call('POST', '/v1/topics', { name: 'quiet' });
    await http.call('PUT', '/v1/topics/quiet/subscriptions/q', {});
    const waitMs = 1_000;
    const timed = async (path: string): Promise<number> => {
      const started = Date.now();
      const answer = await http.call('GET', path);
      assert.equal(answer.status, 200);
      return Date.now() - started;
    };
    // One at a time they would answer after 1, 2, 3 and 4 s.
    const group = await Promise.all(Array.from({ length: 4 }, () => timed(`/v1/topics/quiet/messages?subscription=g&type=stream&waitMs=${waitMs}`)));
    assert.ok(Math.max(...group) < 2.5 * waitMs, `group reads took ${group.join(', ')} ms`);
    // 40 reads share 32 pooled consumers: the last 8 would wait for a whole receive first.
    const queue = await Promise.all(Array.from({ length: 40 }, () => timed(`/v1/topics/quiet/messages?subscription=q&type=queue&waitMs=${waitMs}`)));
    assert.ok(Math.max(...queue) < 2.5 * waitMs, `queue reads took up to ${Math.max(...queue)} ms`);
  });

  test('a queue long poll whose subscription is deleted meanwhile answers 404', async () => {
    await http.call('POST', '/v1/topics', { name: 'doomed' });
    await http.call('PUT', '/v1/topics/doomed/subscriptions/d', {});
    const polling = http.call('GET', '/v1/topics/doomed/messages?subscription=d&type=queue&waitMs=5000');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal((await http.call('DELETE', '/v1/topics/doomed/subscriptions/d')).status, 204);
    const answer = await polling;
    assert.equal(answer.status, 404);
    assert.equal(answer.body.error.code, 'UNKNOWN_SUBSCRIPTION');
  });

  test('requests a browser sends for another site are refused; same-origin and non-browser ones are not', async () => {
    const own = `127.0.0.1:${http.port}`;
    await http.call('POST', '/v1/topics', { name: 'letters' });
    const replay = (headers: Record<string, string>) => raw(http.port, 'POST', '/v1/dead-letters/letters/replay', headers);
    assert.equal((await replay({ origin: 'http://evil.example' })).status, 403);
    assert.equal((await replay({ origin: 'null' })).status, 403);
    assert.equal((await replay({ 'sec-fetch-site': 'cross-site' })).status, 403);
    assert.equal((await raw(http.port, 'GET', '/v1/topics', { host: 'rebound.example.com' })).status, 403, 'a DNS name rebound to loopback');
    assert.equal((await raw(http.port, 'GET', '/v1/topics', { host: `localhost:${http.port}` })).status, 200);
    assert.equal((await raw(http.port, 'GET', '/v1/topics', { origin: `http://${own}`, 'sec-fetch-site': 'same-origin' })).status, 200);
    assert.equal((await raw(http.port, 'GET', '/v1/topics', { host: 'internal:80', 'x-forwarded-host': 'weir.example.com', origin: 'https://weir.example.com' })).status, 403, 'loopback listener: Host must still be local');
    assert.equal((await replay({})).status, 200, 'curl and other programs send no Origin');
    const ws = `ws://${own}/v1/topics/letters/ws`;
    assert.equal(await upgradeStatus(ws, { origin: 'http://evil.example' }), 403);
    assert.equal(await upgradeStatus(ws, { origin: `http://${own}` }), 101);
  });

  test('on a listener that is not on loopback, any Host goes, and a proxy\'s forwarded host counts as the broker\'s origin', () => {
    const req = (headers: Record<string, string>): IncomingMessage => ({ headers }) as IncomingMessage;
    assert.equal(browserRefusal(req({ host: 'weir.example.com' }), '0.0.0.0'), null);
    assert.equal(browserRefusal(req({ host: '10.0.0.5:7480', 'x-forwarded-host': 'weir.example.com', origin: 'https://weir.example.com' }), '0.0.0.0'), null);
    assert.equal(browserRefusal(req({ host: 'weir.example.com', origin: 'https://evil.example' }), '0.0.0.0')?.status, 403);
    assert.equal(browserRefusal(req({ host: '[::1]:7480' }), '::1'), null);
  });

  test('an Upgrade to another protocol than WebSocket is ignored: the request is served as HTTP/1.1', async () => {
    const answer = await raw(http.port, 'GET', '/healthz', { connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c', 'http2-settings': 'AAMAAABkAAQCAAAAAAIAAAAA' });
    assert.equal(answer.status, 200);
    assert.deepEqual(JSON.parse(answer.text), { status: 'ok' });
    const withBody = await raw(http.port, 'POST', '/v1/topics', { connection: 'Upgrade', upgrade: 'h2c', 'content-type': 'application/json' }, '{"name":"x"}');
    assert.equal(withBody.status, 400);
    const wrongPath = await raw(http.port, 'GET', '/v1/topics', { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' });
    assert.equal(wrongPath.status, 404);
  });

  test('routes whose body is optional (PUT a subscription, replay) refuse a body of another content-type, as the others do, and do nothing', async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const put = await raw(http.port, 'PUT', '/v1/topics/typed/subscriptions/s', form, '{"deliveriesMax":3}');
    assert.equal(put.status, 400, put.text);
    assert.deepEqual(JSON.parse(put.text).error, { code: 'INVALID_REQUEST', message: 'content-type application/x-www-form-urlencoded is not supported; send application/json', retriable: false });
    assert.equal((await http.call('GET', '/v1/topics/typed/subscriptions/s')).status, 404, 'nothing was created');
    const replay = await raw(http.port, 'POST', '/v1/dead-letters/typed.s.dlq/replay', form, '{}');
    assert.equal(replay.status, 400, replay.text);
    assert.match(JSON.parse(replay.text).error.message, /^content-type application\/x-www-form-urlencoded is not supported/);
    // Without a body the content-type does not matter.
    assert.equal((await raw(http.port, 'PUT', '/v1/topics/typed/subscriptions/s', { ...form, 'content-length': '0' })).status, 201);
  });

  test('a header named __proto__ reads back like any other', async () => {
    await http.call('POST', '/v1/topics', { name: 'odd-headers', partitions: 1 });
    assert.equal((await http.call('POST', '/v1/topics/odd-headers/messages', '{"messages":[{"value":"v","headers":{"__proto__":"y","plain":"z"}}]}')).status, 200);
    const read = await http.call('GET', '/v1/topics/odd-headers/partitions/0/messages');
    assert.equal(JSON.stringify(read.body.messages[0].headers), '{"__proto__":"y","plain":"z"}');
  });

  test('subscription settings: the own topic as dead-letter topic, internal topics, empty reasons, unknown partitions', async () => {
    await http.call('POST', '/v1/topics', { name: 'jobs' });
    const own = await http.call('PUT', '/v1/topics/jobs/subscriptions/s', { deadLetterTopic: 'jobs' });
    assert.equal(own.status, 400);
    assert.match(own.body.error.message, /deadLetterTopic.*own topic/);
    const internal = await http.call('PUT', '/v1/topics/__queue_state/subscriptions/s', {});
    assert.equal(internal.status, 400);
    assert.match(internal.body.error.message, /reserved for Weir \(__queue_state\)/);
    await http.call('PUT', '/v1/topics/jobs/subscriptions/s', {});
    const empty = await http.call('POST', '/v1/topics/jobs/subscriptions/s/reject', { receipts: ['0.0.1.1'], reason: ' ' });
    assert.equal(empty.status, 400);
    await http.call('POST', '/v1/topics', { name: 'jobs.s.dlq', partitions: 1 });
    assert.equal((await http.call('GET', '/v1/dead-letters/jobs.s.dlq?partition=9')).status, 404);
  });

  test('HEAD on a route that consumes answers 405 (allow: GET) and consumes, commits and acknowledges nothing', async () => {
    await http.call('POST', '/v1/topics', { name: 'heads', partitions: 1 });
    await http.call('PUT', '/v1/topics/heads/subscriptions/q', {});
    await http.call('POST', '/v1/topics/heads/messages', { messages: ['a', 'b', 'c'].map((value) => ({ value })) });
    for (const path of [
      '/v1/topics/heads/events?type=queue&subscription=q',
      '/v1/topics/heads/events?type=stream&subscription=hg',
      '/v1/topics/heads/messages?subscription=hg&max=2',
      '/v1/topics/heads/messages?type=queue&subscription=q&max=2',
      '/v1/topics/heads/ws?type=stream&subscription=hg',
    ]) {
      const answer = await raw(http.port, 'HEAD', path, {});
      assert.equal(answer.status, 405, path);
      assert.ok(answer.headers.allow!.split(', ').includes('GET') && !answer.headers.allow!.includes('HEAD'), `${path}: allow ${answer.headers.allow}`);
    }
    assert.equal((await http.call('GET', '/v1/groups/hg')).status, 404, 'the group committed nothing');
    const group = await http.call('GET', '/v1/topics/heads/messages?subscription=hg&max=10');
    assert.deepEqual(group.body.messages.map((m: any) => m.value), ['a', 'b', 'c']);
    const queue = await http.call('GET', '/v1/topics/heads/messages?type=queue&subscription=q&max=10');
    assert.deepEqual(queue.body.messages.map((m: any) => [m.value, m.deliveryCount]), [['a', 1], ['b', 1], ['c', 1]]);
    // A WebSocket upgrade sent as HEAD is refused the same way, before anything is attached.
    const upgrade = await raw(http.port, 'HEAD', '/v1/topics/heads/ws?type=stream&subscription=hg', { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' });
    assert.deepEqual([upgrade.status, upgrade.headers.allow], [405, 'GET']);
    // Routes that only read still answer HEAD, without a body.
    const browse = await raw(http.port, 'HEAD', '/v1/topics/heads/partitions/0/messages', {});
    assert.deepEqual([browse.status, browse.text], [200, '']);
  });

  test('a group long poll answers within its own waitMs while an earlier one waits longer, and data still wakes the long one', async () => {
    await http.call('POST', '/v1/topics', { name: 'turns', partitions: 2 });
    const path = (waitMs: number): string => `/v1/topics/turns/messages?subscription=tg&type=stream&from=latest&max=1&waitMs=${waitMs}`;
    const timed = async (waitMs: number): Promise<{ ms: number; values: string[] }> => {
      const started = Date.now();
      const answer = await http.call('GET', path(waitMs));
      assert.equal(answer.status, 200);
      return { ms: Date.now() - started, values: answer.body.messages.map((m: any) => m.value) };
    };
    const long = timed(8_000);
    await sleep(300);
    const [short, immediate] = await Promise.all([timed(500), timed(0)]);
    assert.ok(short.ms < 1_200, `waitMs=500 answered after ${short.ms} ms`);
    assert.ok(immediate.ms < 500, `waitMs=0 answered after ${immediate.ms} ms`);
    assert.deepEqual([short.values, immediate.values], [[], []]);
    await http.call('POST', '/v1/topics/turns/messages', { messages: [{ value: 'wake', partition: 1 }] });
    const woken = await long;
    assert.deepEqual(woken.values, ['wake']);
    assert.ok(woken.ms < 4_000, `the long poll answered after ${woken.ms} ms`);
    assert.deepEqual((await timed(0)).values, [], 'the message was committed once');
  });

  test('text a JSON escape makes a lone UTF-16 surrogate is refused naming the field, not stored as U+FFFD', async () => {
    await http.call('POST', '/v1/topics', { name: 'surrogates', partitions: 1 });
    for (const [body, field] of [
      ['{"messages":[{"value":"\\ud800"}]}', /messages\[0\]\.value/],
      ['{"messages":[{"key":"\\udc00x","value":"v"}]}', /messages\[0\]\.key/],
      ['{"messages":[{"value":"v","headers":{"h\\ud800":"x"}}]}', /messages\[0\]\.headers name/],
      ['{"messages":[{"value":"v","headers":{"h":"x\\udfff"}}]}', /messages\[0\]\.headers\.h/],
    ] as const) {
      const answer = await http.call('POST', '/v1/topics/surrogates/messages', body);
      assert.equal(answer.status, 400, body);
      assert.equal(answer.body.error.code, 'INVALID_REQUEST');
      assert.match(answer.body.error.message, field);
      assert.match(answer.body.error.message, /surrogate/);
    }
    assert.equal((await http.call('GET', '/v1/topics/surrogates')).body.partitions[0].offsetEnd, 0, 'nothing stored');
    // A pair (an emoji) is well-formed text and is stored as sent.
    assert.equal((await http.call('POST', '/v1/topics/surrogates/messages', '{"messages":[{"value":"\\ud83d\\ude00"}]}')).status, 200);
    assert.equal((await http.call('GET', '/v1/topics/surrogates/partitions/0/messages')).body.messages[0].value, '\u{1f600}');
  });

  test('SSE and WebSocket on a group with live members are refused with 409 before a stream starts', async () => {
    await http.call('POST', '/v1/topics', { name: 'membered' });
    await joinAsKafkaMember(http, 'kafka-g');
    const sse = await fetch(`${http.base}/v1/topics/membered/events?type=stream&subscription=kafka-g`);
    assert.equal(sse.status, 409);
    assert.equal(((await sse.json()) as any).error.code, 'GROUP_NOT_EMPTY');
    const poll = await http.call('GET', '/v1/topics/membered/messages?subscription=kafka-g');
    assert.deepEqual([poll.status, poll.body.error.code], [409, 'GROUP_NOT_EMPTY']);
    assert.equal(await upgradeStatus(`ws://127.0.0.1:${http.port}/v1/topics/membered/ws?type=stream&subscription=kafka-g`, {}), 409);
  });

  test('every route refuses a query parameter it does not take, or one given twice, naming it, and does nothing', async () => {
    await http.call('POST', '/v1/topics', { name: 'asked' });
    await http.call('POST', '/v1/topics/asked/messages', { messages: [{ value: 'kept' }] });
    await http.call('PUT', '/v1/topics/asked/subscriptions/asked-queue');
    await http.broker.commitOffsets({ groupId: 'asked-group' }, [{ topic: 'asked', partition: 0, offset: 0n, metadata: null }]);
    const values = { topic: 'asked', subscription: 'asked-queue', group: 'asked-group', partition: '0' } as Record<string, string>;
    const routes = http.listener.routes().filter((route) => route.query !== 'ignored');
    assert.ok(routes.length >= 25, `only ${routes.length} routes`);
    for (const route of routes) {
      const path = route.path.replace(/\{(\w+)\}/g, (_, name: string) => values[name]!);
      const answer = await http.call(route.method, `${path}?bogus=1`);
      assert.equal(answer.status, 400, `${route.method} ${route.path}`);
      assert.equal(answer.body.error.code, 'INVALID_REQUEST');
      assert.match(answer.body.error.message, /unknown query parameter "bogus"/, `${route.method} ${route.path}`);
    }
    // Nothing ran: no DELETE deleted, no read consumed or committed.
    assert.equal((await http.call('GET', '/v1/topics/asked')).status, 200);
    assert.equal((await http.call('GET', '/v1/topics/asked/subscriptions/asked-queue')).body.backlogMessages, 1);
    assert.equal((await http.call('GET', '/v1/groups/asked-group')).body.offsets[0].offset, 0);
    // A misspelt parameter is named, with what the route takes; a repeated one is named too.
    const misspelt = await http.call('GET', '/v1/topics/asked/messages?subscription=asked-group&wait_ms=100');
    assert.equal(misspelt.status, 400);
    assert.match(misspelt.body.error.message, /"wait_ms".*subscription, type, from, encoding, max, waitMs/);
    const twice = await http.call('GET', '/v1/topics/asked/messages?subscription=asked-group&max=1&max=5');
    assert.equal(twice.status, 400);
    assert.match(twice.body.error.message, /query parameter max is given more than once/);
    assert.equal((await http.call('GET', '/v1/groups/asked-group')).body.offsets[0].offset, 0, 'the refused reads committed nothing');
    const upgrade = await raw(http.port, 'GET', '/v1/topics/asked/ws?subscription=asked-group&credits=5', {
      connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
    });
    assert.equal(upgrade.status, 400);
    assert.match(JSON.parse(upgrade.text).error.message, /unknown query parameter "credits"/);
    // The parameters each route takes still work; web pages ignore their query.
    assert.equal((await http.call('GET', '/v1/topics?internal=true')).status, 200);
    assert.equal((await http.call('GET', '/v1/topics?internal=yes')).status, 400);
    assert.equal((await http.call('GET', '/v1/subscriptions?topic=asked')).body.subscriptions.length, 1);
    assert.equal((await http.call('GET', '/v1/topics/asked/partitions/0/messages?offset=0&max=1&waitMs=0&encoding=base64')).status, 200);
    assert.equal((await http.call('GET', '/v1/topics/asked/messages?subscription=asked-group&type=stream&from=earliest&max=1&waitMs=0&encoding=utf8')).status, 200);
    assert.equal((await fetch(`${http.base}/demo/chat?utm_source=mail`)).status, 200);
    assert.equal((await fetch(`${http.base}/?utm_source=mail`, { redirect: 'manual' })).status, 302);
  });

  test('names with bad percent-escapes in a query or a path are refused naming the parameter, not read as U+FFFD', async () => {
    await http.call('POST', '/v1/topics', { name: 'escaped' });
    await http.call('POST', '/v1/topics/escaped/messages', { messages: [{ value: 'x' }] });
    for (const bad of ['%FF', '%FE', 'a%ZZ', '%ED%A0%80', '%C3']) {
      const read = await http.call('GET', `/v1/topics/escaped/messages?subscription=${bad}&type=stream&waitMs=0`);
      assert.equal(read.status, 400, bad);
      assert.equal(read.body.error.code, 'INVALID_REQUEST');
      assert.match(read.body.error.message, /^query parameter subscription: expected percent-encoded UTF-8 text/, bad);
    }
    assert.deepEqual((await http.call('GET', '/v1/groups')).body.groups.filter((g: any) => /\uFFFD|%/.test(g.groupId)), [], 'no group was made of a bad name');
    const listed = await http.call('GET', '/v1/subscriptions?topic=%FF');
    assert.deepEqual([listed.status, listed.body.error.message], [400, 'query parameter topic: expected percent-encoded UTF-8 text, got "%FF"']);
    assert.match((await http.call('GET', '/v1/topics?%FF=true')).body.error.message, /^query parameter name: expected percent-encoded UTF-8 text/);
    // Percent-encoded UTF-8, and + for a space, read as sent.
    const good = await http.call('GET', '/v1/topics/escaped/messages?subscription=caf%C3%A9+au+lait&type=stream&waitMs=0');
    assert.deepEqual(good.body.messages.map((m: any) => m.value), ['x']);
    assert.equal((await http.call('GET', `/v1/groups/${encodeURIComponent('café au lait')}`)).status, 200);
    // Paths: the parameter is named.
    for (const [method, path, name] of [['GET', '/v1/groups/%FF', 'group'], ['DELETE', '/v1/topics/%E9', 'topic'], ['PUT', '/v1/topics/escaped/subscriptions/%ZZ', 'subscription']]) {
      const answer = await http.call(method!, path!);
      assert.equal(answer.status, 400, path);
      assert.match(answer.body.error.message, new RegExp(`^path parameter ${name}: expected percent-encoded UTF-8 text`), path);
    }
    const key = { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' };
    for (const [path, pattern] of [['/v1/topics/escaped/ws?subscription=%FF', /^query parameter subscription:/], ['/v1/topics/%FF/ws', /^path parameter topic:/]] as const) {
      const upgrade = await raw(http.port, 'GET', path, key);
      assert.equal(upgrade.status, 400, path);
      assert.match(JSON.parse(upgrade.text).error.message, pattern, path);
    }
  });

  test('a WebSocket client that sends frames and never reads the answers holds about one answer of broker memory; all answer once it reads', async () => {
    await http.call('POST', '/v1/topics', { name: 'ws-unread' });
    const socket = new WebSocket(`ws://127.0.0.1:${http.port}/v1/topics/ws-unread/ws?type=stream`);
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    const answers: unknown[] = [];
    socket.on('message', (data) => answers.push(JSON.parse(data.toString())));
    const sent = 400;
    try {
      (socket as unknown as { _socket: Socket })._socket.pause(); // reads nothing from here on
      // Each bad frame is answered with an error frame echoing its 60 kB id: 24 MB of answers.
      for (let i = 0; i < sent; i++) socket.send(JSON.stringify({ type: 'unknown', id: `${i}:${'x'.repeat(60_000)}` }));
      let peak = 0;
      for (let i = 0; i < 20; i++) {
        await sleep(50);
        peak = Math.max(peak, http.listener.outboundBytes);
      }
      assert.ok(peak > 0, 'answers were queued (the test measures something)');
      assert.ok(peak <= 256 * 1024, `about one answer was queued, not all 24 MB (peak ${peak} bytes)`);
      (socket as unknown as { _socket: Socket })._socket.resume();
      while (answers.length < sent) await new Promise((resolve) => socket.once('message', resolve));
      assert.ok(answers.every((answer, i) => (answer as { type: string; id: string }).type === 'error' && (answer as { id: string }).id.startsWith(`${i}:`)));
    } finally {
      socket.terminate();
    }
  });

  test('a WebSocket upgrade without Sec-WebSocket-Key gets a JSON 400', async () => {
    await http.call('POST', '/v1/topics', { name: 'keyless' });
    const answer = await raw(http.port, 'GET', '/v1/topics/keyless/ws', { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13' });
    assert.equal(answer.status, 400);
    assert.match(String(answer.headers['content-type']), /application\/json/);
    assert.match(JSON.parse(answer.text).error.message, /Sec-WebSocket-Key/);
  });
});

/** Writes `text` on a new connection; resolves with everything the server sent once it closed the connection. */
function exchange(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString()));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
}

test('requests Node refuses before any route are answered with the JSON error body naming the problem and the limit', async () => {
  const http = await startTestHttp();
  try {
    const cases = [
      { request: 'GET /healthz HTTP/1.1\r\nconnection: close\r\n\r\n', status: 400, message: 'an HTTP/1.1 request needs a Host header (RFC 9112, 3.2)' },
      { request: 'CONNECT 127.0.0.1:443 HTTP/1.1\r\nhost: 127.0.0.1:443\r\n\r\n', status: 405, message: 'CONNECT is not supported: Weir is no proxy' },
      {
        request: 'POST /v1/topics HTTP/1.1\r\nhost: 127.0.0.1\r\nexpect: 200-ok\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n',
        status: 417,
        message: 'Expect: 200-ok is not supported; the only expectation served is 100-continue',
      },
      { request: `GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nx-big: ${'a'.repeat(17_000)}\r\n\r\n`, status: 431, message: 'the request line and headers exceed the limit of 16384 bytes' },
    ];
    for (const { request, status, message } of cases) {
      const answer = await exchange(http.port, request);
      const [head, body] = answer.split('\r\n\r\n');
      assert.match(head!, new RegExp(`^HTTP/1\\.1 ${status} `), `${request.slice(0, 40)} answered ${JSON.stringify(answer)}`);
      assert.match(head!, /content-type: application\/json/);
      assert.deepEqual(JSON.parse(body!), { error: { code: 'INVALID_REQUEST', message, retriable: false } });
    }
  } finally {
    await http.stop();
  }
});

test('a request that does not arrive in time is told the time limits', () => {
  const error = clientErrorOf(Object.assign(new Error('timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }));
  assert.equal(error.status, 408);
  assert.equal(error.message, 'the request did not arrive whole in time: its headers must arrive within 65000 ms, all of it within 300000 ms');
});

test('long polls of more queue subscriptions than the pools bound reuse the pool of one not in use; only when each holds leases is one refused', async () => {
  const http = await startTestHttp({ listener: { pooledSubscriptionsMax: 2 } });
  try {
    const poll = (topic: string) => http.call('GET', `/v1/topics/${topic}/messages?type=queue&subscription=w&max=1`);
    for (const topic of ['p1', 'p2', 'p3']) assert.equal((await http.call('PUT', `/v1/topics/${topic}/subscriptions/w`, {})).status, 201);
    await http.call('POST', '/v1/topics/p1/messages', { messages: [{ value: 'held' }] });
    const held = await poll('p1');
    assert.equal(held.body.messages.length, 1);
    assert.equal((await poll('p2')).status, 200);
    const third = await poll('p3');
    assert.equal(third.status, 200, JSON.stringify(third.body)); // p2's pool held nothing: dropped
    assert.equal((await poll('p2')).status, 200); // and p3's now
    await http.call('POST', '/v1/topics/p2/messages', { messages: [{ value: 'held too' }] });
    assert.equal((await poll('p2')).body.messages.length, 1);

    const refused = await poll('p3');
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.equal(refused.body.error.code, 'LIMIT_EXCEEDED');
    assert.match(refused.body.error.message, /at most 2 queue subscriptions at once, and each of them has a long poll running or messages in flight/);
    // The pool keeping a lease was not dropped: its receipt still settles, and then its pool may go.
    assert.deepEqual((await http.call('POST', '/v1/topics/p1/subscriptions/w/ack', { receipts: [held.body.messages[0].receipt] })).body.results, [null]);
    assert.equal((await poll('p3')).status, 200);
  } finally {
    await http.stop();
  }
});

describe('HTTP API: request bodies held in memory', () => {
  const bodyBytesMax = 64 * 1024;
  const idleMs = 1_500;
  let http: TestHttp;
  before(async () => {
    http = await startTestHttp({ listener: { bodyBytesMax, bodiesHeldBytesMax: 2 * bodyBytesMax, bodyIdleMs: idleMs } });
    await http.call('POST', '/v1/topics', { name: 'bodies', partitions: 1 });
  });
  after(() => http.stop());

  test('bodies past the budget wait unread until room frees; a stalled body is answered 408 within the idle time', async () => {
    const started = Date.now();
    const stalled = [0, 1].map(() => stalledBody(http.port, '/v1/topics/bodies/messages', bodyBytesMax, '{"messages":['));
    await sleep(200);
    const small = http.call('POST', '/v1/topics/bodies/messages', { messages: [{ value: 'small' }] });
    const early = await Promise.race([small.then(() => 'answered'), sleep(400).then(() => 'waiting')]);
    assert.equal(early, 'waiting', 'the budget is held by the stalled bodies');
    stalled[0]!.socket.destroy();
    assert.equal((await small).status, 200, 'room freed by the closed request');
    const answer = await stalled[1]!.answer;
    const elapsedMs = Date.now() - started;
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.equal(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)).error.code, 'TIMEOUT');
    assert.ok(elapsedMs >= idleMs - 100 && elapsedMs < idleMs + 2_000, `answered after ${elapsedMs} ms`);
    assert.equal(http.listener.bodiesHeldBytes, 0, 'everything given back');
  });
});
