import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { partitionForKey } from '../../format/partitioner.js';
import { openApiDocument } from './openapi.js';
import { startTestHttp, type TestHttp } from './testing-http.js';

describe('HTTP API: produce, browse, admin, errors', () => {
  let http: TestHttp;
  before(async () => {
    http = await startTestHttp({ broker: { autoCreateTopics: false } });
  });
  after(() => http.stop());

  test('health and readiness', async () => {
    assert.deepEqual((await http.call('GET', '/healthz')).body, { status: 'ok' });
    const ready = await http.call('GET', '/readyz');
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body, { status: 'ready' });
  });

  test('produce then browse returns the same messages, headers and offsets', async () => {
    assert.equal((await http.call('POST', '/v1/topics', { name: 'orders', partitions: 1 })).status, 201);
    const produced = await http.call('POST', '/v1/topics/orders/messages', {
      messages: [
        { key: 'a', value: 'first', headers: { trace: 't1' } },
        { value: 'second' },
        { key: null, value: null },
      ],
    });
    assert.equal(produced.status, 200);
    assert.deepEqual(produced.body.results, [
      { partition: 0, offset: 0 },
      { partition: 0, offset: 1 },
      { partition: 0, offset: 2 },
    ]);
    const browsed = await http.call('GET', '/v1/topics/orders/partitions/0/messages?offset=0&max=10');
    assert.equal(browsed.status, 200);
    assert.deepEqual(
      browsed.body.messages.map((m: any) => [m.partition, m.offset, m.key, m.value, m.headers]),
      [
        [0, 0, 'a', 'first', { trace: 't1' }],
        [0, 1, null, 'second', {}],
        [0, 2, null, null, {}],
      ],
    );
    assert.equal(browsed.body.nextOffset, 3);
    assert.equal(browsed.body.highWatermark, 3);
    assert.equal(typeof browsed.body.messages[0].timestamp, 'number');
    const fromOne = await http.call('GET', '/v1/topics/orders/partitions/0/messages?offset=1&max=1');
    assert.deepEqual(fromOne.body.messages.map((m: any) => m.value), ['second']);
    const byTime = await http.call('GET', `/v1/topics/orders/partitions/0/messages?timestamp=${browsed.body.messages[0].timestamp}`);
    assert.equal(byTime.body.messages.length, 3);
  });

  test('base64 encoding both ways', async () => {
    await http.call('POST', '/v1/topics', { name: 'binary' });
    const bytes = Buffer.from([0, 255, 10, 13, 128]);
    const produced = await http.call('POST', '/v1/topics/binary/messages', { encoding: 'base64', messages: [{ key: 'AQI=', value: bytes.toString('base64') }] });
    assert.equal(produced.status, 200, JSON.stringify(produced.body));
    const browsed = await http.call('GET', '/v1/topics/binary/partitions/0/messages?encoding=base64');
    assert.equal(browsed.body.messages[0].value, bytes.toString('base64'));
    assert.equal(browsed.body.messages[0].key, 'AQI=');
    const bad = await http.call('POST', '/v1/topics/binary/messages', { encoding: 'base64', messages: [{ value: 'not base64!' }] });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /messages\[0\]\.value/);
  });

  test('keys land in the partition partitionForKey picks; keyless messages go round robin', async () => {
    await http.call('POST', '/v1/topics', { name: 'keyed', partitions: 5 });
    const keys = Array.from({ length: 40 }, (_, i) => `key-${i}`);
    const produced = await http.call('POST', '/v1/topics/keyed/messages', { messages: keys.map((key) => ({ key, value: key })) });
    assert.equal(produced.status, 200);
    produced.body.results.forEach((result: any, i: number) => {
      assert.equal(result.partition, partitionForKey(Buffer.from(keys[i]!), 5), keys[i]);
    });
    const keyless = await http.call('POST', '/v1/topics/keyed/messages', { messages: Array.from({ length: 10 }, () => ({ value: 'x' })) });
    const counts = new Map<number, number>();
    for (const r of keyless.body.results) counts.set(r.partition, (counts.get(r.partition) ?? 0) + 1);
    assert.deepEqual([...counts.values()], [2, 2, 2, 2, 2]);
    const explicit = await http.call('POST', '/v1/topics/keyed/messages', { messages: [{ key: 'key-1', value: 'p4', partition: 4 }] });
    assert.equal(explicit.body.results[0].partition, 4);
    const outOfRange = await http.call('POST', '/v1/topics/keyed/messages', { messages: [{ value: 'p9', partition: 9 }] });
    assert.equal(outOfRange.status, 404);
    assert.equal(outOfRange.body.error.code, 'UNKNOWN_PARTITION');
  });

  test('delayMs and ttlMs become weir-deliver-at and weir-expires-at headers', async () => {
    await http.call('POST', '/v1/topics', { name: 'scheduled' });
    const before = Date.now();
    await http.call('POST', '/v1/topics/scheduled/messages', { messages: [{ value: 'later', delayMs: 60_000, ttlMs: 120_000 }] });
    const [message] = (await http.call('GET', '/v1/topics/scheduled/partitions/0/messages')).body.messages;
    const deliverAt = Number(message.headers['weir-deliver-at']);
    const expiresAt = Number(message.headers['weir-expires-at']);
    assert.ok(deliverAt >= before + 60_000 && deliverAt <= Date.now() + 60_000, String(deliverAt));
    assert.equal(expiresAt - deliverAt, 60_000);
    const reserved = await http.call('POST', '/v1/topics/scheduled/messages', { messages: [{ value: 'x', headers: { 'weir-deliver-at': '1' } }] });
    assert.equal(reserved.status, 400);
  });

  test('errors: unknown topic (auto-create off), bad JSON, bad shapes, limits, unknown routes', async () => {
    const unknown = await http.call('POST', '/v1/topics/missing/messages', { messages: [{ value: 'x' }] });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, 'UNKNOWN_TOPIC');
    assert.equal(unknown.body.error.retriable, false);
    assert.equal((await http.call('GET', '/v1/topics/missing')).status, 404);
    assert.equal((await http.call('GET', '/v1/topics/missing/partitions/0/messages')).status, 404);

    const badJson = await http.call('POST', '/v1/topics/orders/messages', '{"messages": [');
    assert.equal(badJson.status, 400);
    assert.equal(badJson.body.error.code, 'INVALID_REQUEST');
    assert.match(badJson.body.error.message, /JSON/);

    for (const [body, pattern] of [
      [{ messages: [] }, /messages: expected an array of 1 to 10000/],
      [{ messages: [{}] }, /messages\[0\]\.value/],
      [{ messages: [{ value: 5 }] }, /messages\[0\]\.value: expected a string or null/],
      [{ messages: [{ value: 'x', colour: 'red' }] }, /"colour" is unknown/],
      [{ messages: [{ value: 'x', delayMs: -1 }] }, /delayMs: expected an integer from 0/],
      [{ messages: [{ value: 'x', headers: { h: 1 } }] }, /headers\.h/],
      [[1, 2], /body: expected an object/],
    ] as const) {
      const answer = await http.call('POST', '/v1/topics/orders/messages', body);
      assert.equal(answer.status, 400, JSON.stringify(body));
      assert.match(answer.body.error.message, pattern);
    }
    const tooMany = await http.call('POST', '/v1/topics/orders/messages', { messages: Array.from({ length: 10_001 }, () => ({ value: '' })) });
    assert.equal(tooMany.status, 400);
    assert.match(tooMany.body.error.message, /10000/);

    const wrongType = await http.call('POST', '/v1/topics', 'name=x');
    assert.equal(wrongType.status, 400);
    const badConfig = await http.call('POST', '/v1/topics', { name: 'bad-config', config: { retentionMs: 'forever' } });
    assert.equal(badConfig.status, 400);
    assert.equal(badConfig.body.error.code, 'INVALID_CONFIG');
    const badName = await http.call('POST', '/v1/topics', { name: 'no spaces' });
    assert.equal(badName.status, 400);
    assert.equal(badName.body.error.code, 'INVALID_TOPIC');

    const badMax = await http.call('GET', '/v1/topics/orders/partitions/0/messages?max=0');
    assert.equal(badMax.status, 400);
    assert.match(badMax.body.error.message, /max: expected an integer from 1 to 10000/);
    assert.equal((await http.call('GET', '/v1/topics/orders/partitions/x/messages')).status, 400);
    assert.equal((await http.call('GET', '/v1/topics/orders/partitions/7/messages')).status, 404);

    const noRoute = await http.call('GET', '/v2/nothing');
    assert.equal(noRoute.status, 404);
    const wrongMethod = await http.call('PUT', '/v1/topics/orders');
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get('allow'), 'GET, PATCH, DELETE');
  });

  test('nothing is stored when one message of a request is bad', async () => {
    await http.call('POST', '/v1/topics', { name: 'atomic', partitions: 2 });
    const answer = await http.call('POST', '/v1/topics/atomic/messages', { messages: [{ value: 'ok', partition: 0 }, { value: 'ok', partition: 1 }, { value: 7 }] });
    assert.equal(answer.status, 400);
    const topic = await http.call('GET', '/v1/topics/atomic');
    assert.deepEqual(topic.body.partitions.map((p: any) => p.offsetEnd), [0, 0]);
    // A batch larger than the topic's messageBytesMax is refused before anything is produced.
    await http.call('POST', '/v1/topics', { name: 'small', partitions: 2, config: { messageBytesMax: 1024 } });
    const big = await http.call('POST', '/v1/topics/small/messages', { messages: [{ value: 'fits', partition: 0 }, { value: 'x'.repeat(2000), partition: 1 }] });
    assert.equal(big.status, 413);
    assert.equal(big.body.error.code, 'MESSAGE_TOO_LARGE');
    assert.match(big.body.error.message, /messageBytesMax is 1024/);
    assert.deepEqual((await http.call('GET', '/v1/topics/small')).body.partitions.map((p: any) => p.offsetEnd), [0, 0]);
  });

  test('a body over the limit is refused with 413 naming the limit', async () => {
    const small = await startTestHttp({ listener: { bodyBytesMax: 1024 } });
    try {
      const answer = await small.call('POST', '/v1/topics/any/messages', { messages: [{ value: 'x'.repeat(4096) }] });
      assert.equal(answer.status, 413);
      assert.equal(answer.body.error.code, 'MESSAGE_TOO_LARGE');
      assert.match(answer.body.error.message, /limit of 1024 bytes/);
      // Chunked (no content-length): the bound holds while reading.
      const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(`${small.base}/v1/topics/any/messages`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
          let body = '';
          res.on('data', (chunk) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        });
        req.on('error', reject);
        req.write('{"messages":[{"value":"');
        req.write('y'.repeat(2048));
        req.end('"}]}');
      });
      assert.equal(chunked.status, 413);
      assert.match(chunked.body, /MESSAGE_TOO_LARGE/);
      assert.equal((await small.call('GET', '/healthz')).status, 200, 'the listener still serves');
    } finally {
      await small.stop();
    }
  });

  test('topic, group and subscription administration', async () => {
    const created = await http.call('POST', '/v1/topics', { name: 'admin-t', partitions: 3, config: { retentionMs: 3_600_000, flush: 'none' } });
    assert.equal(created.status, 201);
    assert.equal(created.body.name, 'admin-t');
    assert.equal(created.body.partitions.length, 3);
    assert.equal(created.body.config.retentionMs, 3_600_000);
    assert.deepEqual(created.body.config.flush, { kind: 'none' });
    const again = await http.call('POST', '/v1/topics', { name: 'admin-t' });
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, 'TOPIC_EXISTS');
    const listed = await http.call('GET', '/v1/topics');
    assert.ok(listed.body.topics.some((t: any) => t.name === 'admin-t'));
    assert.ok(listed.body.topics.every((t: any) => !t.internal));
    const described = await http.call('GET', '/v1/topics/admin-t');
    assert.equal(described.body.partitions[2].partition, 2);
    assert.equal(typeof described.body.partitions[0].offsetEnd, 'number');
    const altered = await http.call('PATCH', '/v1/topics/admin-t', { partitions: 4, flush: 'interval:20', retentionMs: null });
    assert.equal(altered.status, 200);
    assert.equal(altered.body.partitions.length, 4);
    assert.deepEqual(altered.body.config.flush, { kind: 'interval', intervalMs: 20 });
    assert.equal(altered.body.config.retentionMs, null);
    const shrink = await http.call('PATCH', '/v1/topics/admin-t', { partitions: 1 });
    assert.equal(shrink.status, 400);
    assert.match(shrink.body.error.message, /partitions can only be added/);
    const unknownField = await http.call('PATCH', '/v1/topics/admin-t', { retention: 5 });
    assert.equal(unknownField.body.error.code, 'INVALID_CONFIG');
    assert.equal((await http.call('PATCH', '/v1/topics/no-such-topic', { retentionMs: 1000 })).status, 404);
    assert.equal((await http.call('GET', '/v1/topics/admin-t')).body.partitions.length, 4);

    // A group created by an HTTP stream read shows up with its offsets and lag.
    await http.call('POST', '/v1/topics/admin-t/messages', { messages: [{ value: 'a', partition: 0 }, { value: 'b', partition: 0 }] });
    const read = await http.call('GET', '/v1/topics/admin-t/messages?subscription=g-admin&type=stream&max=1');
    assert.equal(read.body.messages.length, 1);
    const groups = await http.call('GET', '/v1/groups');
    assert.ok(groups.body.groups.some((g: any) => g.groupId === 'g-admin'));
    const group = await http.call('GET', '/v1/groups/g-admin');
    const offset0 = group.body.offsets.find((o: any) => o.topic === 'admin-t' && o.partition === 0);
    assert.deepEqual([offset0.offset, offset0.highWatermark, offset0.lag], [1, 2, 1]);
    assert.equal((await http.call('DELETE', '/v1/groups/g-admin')).status, 204);
    assert.equal((await http.call('GET', '/v1/groups/g-admin')).status, 404);
    // A group with a live member is not deleted: a conflict, not a server error.
    await http.broker.joinGroup({
      groupId: 'g-live', memberId: '', clientId: 'test', clientHost: '127.0.0.1', sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000,
      protocolType: 'consumer', protocols: [{ name: 'roundrobin', metadata: Buffer.from([1]) }],
    });
    const busy = await http.call('DELETE', '/v1/groups/g-live');
    assert.deepEqual([busy.status, busy.body.error.code], [409, 'GROUP_NOT_EMPTY']);

    // The partition count is given once: a top-level count and a different config.partitions disagree.
    const twice = await http.call('POST', '/v1/topics', { name: 'admin-twice', partitions: 2, config: { partitions: 3 } });
    assert.equal(twice.status, 400);
    assert.match(twice.body.error.message, /partitions 2 and config.partitions 3 disagree/);
    assert.equal((await http.call('GET', '/v1/topics/admin-twice')).status, 404);

    assert.equal((await http.call('DELETE', '/v1/topics/admin-t')).status, 204);
    assert.equal((await http.call('GET', '/v1/topics/admin-t')).status, 404);
    assert.equal((await http.call('DELETE', '/v1/topics/admin-t')).status, 404);
  });

  test('a group offset reset moves an idle group, all partitions or none, and refuses a group with members', async () => {
    await http.call('POST', '/v1/topics', { name: 'reset-t', partitions: 2 });
    await http.call('POST', '/v1/topics/reset-t/messages', { messages: ['a', 'b', 'c', 'd'].map((value) => ({ value, partition: 0 })) });
    await http.broker.commitOffsets({ groupId: 'g-reset' }, [{ topic: 'reset-t', partition: 0, offset: 3n, metadata: null }]);
    const committed = async () => (await http.call('GET', '/v1/groups/g-reset')).body.offsets.map((o: any) => [o.partition, o.offset]);

    const dry = await http.call('POST', '/v1/groups/g-reset/reset-offsets', { topic: 'reset-t', to: 'earliest', dryRun: true });
    assert.equal(dry.status, 200, JSON.stringify(dry.body));
    assert.deepEqual(dry.body, {
      groupId: 'g-reset', topic: 'reset-t', dryRun: true,
      resets: [{ partition: 0, previous: 3, offset: 0, note: null }, { partition: 1, previous: null, offset: 0, note: null }],
    });
    assert.deepEqual(await committed(), [[0, 3]]);

    const shifted = await http.call('POST', '/v1/groups/g-reset/reset-offsets', { topic: 'reset-t', shiftBy: -2, partitions: [0] });
    assert.deepEqual(shifted.body.resets, [{ partition: 0, previous: 3, offset: 1, note: null }]);
    const past = await http.call('POST', '/v1/groups/g-reset/reset-offsets', { topic: 'reset-t', to: '99', partitions: [0] });
    assert.deepEqual(past.body.resets, [{ partition: 0, previous: 1, offset: 4, note: '99 is past the end' }]);
    assert.deepEqual(await committed(), [[0, 4]]);

    // Partition 1 has nothing committed to shift from: neither partition moves.
    const refused = await http.call('POST', '/v1/groups/g-reset/reset-offsets', { topic: 'reset-t', shiftBy: 1 });
    assert.deepEqual([refused.status, refused.body.error.code], [400, 'INVALID_REQUEST']);
    assert.match(refused.body.error.message, /no committed offset on reset-t\[1\] to shift/);
    assert.deepEqual(await committed(), [[0, 4]]);

    for (const [body, message] of [
      [{ topic: 'reset-t' }, /exactly one of to and shiftBy/],
      [{ topic: 'reset-t', to: 'soon' }, /to: expected earliest, latest, an offset, or an ISO-8601 time/],
      [{ topic: 'reset-t', to: 0, partitions: [5] }, /topic reset-t has partitions 0 to 1, not 5/],
      [{ topic: 'reset-t', to: 0, shiftBy: 1 }, /exactly one of to and shiftBy/],
      [{ topic: 'reset-t', to: 0, dryrun: true }, /dryrun/],
    ] as const) {
      const answer = await http.call('POST', '/v1/groups/g-reset/reset-offsets', body);
      assert.equal(answer.status >= 400 && answer.status < 500, true, JSON.stringify(body));
      assert.match(answer.body.error.message, message);
    }
    assert.equal((await http.call('POST', '/v1/groups/g-reset/reset-offsets', { topic: 'no-such', to: 0 })).status, 404);

    await http.broker.joinGroup({
      groupId: 'g-reset', memberId: '', clientId: 'test', clientHost: '127.0.0.1', sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000,
      protocolType: 'consumer', protocols: [{ name: 'roundrobin', metadata: Buffer.from([1]) }],
    });
    const busy = await http.call('POST', '/v1/groups/g-reset/reset-offsets', { topic: 'reset-t', to: 'earliest' });
    assert.deepEqual([busy.status, busy.body.error.code], [409, 'GROUP_NOT_EMPTY']);
    assert.match(busy.body.error.message, /group g-reset has 1 live member: stop its consumers first/);
    assert.deepEqual(await committed(), [[0, 4]]);
  });

  test('openapi.json parses and describes every route', async () => {
    const answer = await http.call('GET', '/openapi.json');
    assert.equal(answer.status, 200);
    assert.equal(answer.body.openapi, '3.1.0');
    const documented = new Set<string>();
    for (const [path, item] of Object.entries(answer.body.paths as Record<string, Record<string, unknown>>)) {
      for (const method of Object.keys(item)) documented.add(`${method.toUpperCase()} ${path}`);
    }
    const served = new Set(http.listener.routes().filter((r) => r.path !== '/console').map((r) => `${r.method} ${r.path.replace('*}', '}')}`));
    assert.deepEqual([...served].filter((r) => !documented.has(r)), [], 'routes missing from openapi.json');
    assert.deepEqual([...documented].filter((r) => !served.has(r)), [], 'openapi.json lists routes that are not served');
    assert.ok(served.size >= 29, `only ${served.size} routes`);
    // Every $ref points at a schema that exists.
    const refs = JSON.stringify(openApiDocument).match(/#\/components\/schemas\/\w+/g) ?? [];
    for (const ref of new Set(refs)) assert.ok(ref.split('/').at(-1)! in answer.body.components.schemas, ref);
  });

  test('openapi.json declares every status these requests answer, and the parameters as the server needs them', async () => {
    const operation = (method: string, path: string): any => (openApiDocument.paths as any)[path][method.toLowerCase()];
    const assertDeclared = (method: string, path: string, status: number): void => {
      assert.ok(String(status) in operation(method, path).responses, `${method} ${path} answered ${status}, which openapi.json does not declare`);
    };
    // Every operation can be refused for browser safety, before routing.
    for (const [path, item] of Object.entries(openApiDocument.paths)) {
      for (const method of Object.keys(item)) {
        const url = path.replace(/\{\w+\}/g, 'x');
        const status = await new Promise<number>((resolve, reject) => {
          const req = request(`${http.base}${url}`, { method: method.toUpperCase(), headers: { 'sec-fetch-site': 'cross-site' } }, (res) => {
            res.resume();
            resolve(res.statusCode!);
          });
          req.on('error', reject);
          req.end();
        });
        assert.equal(status, 403, `${method} ${url}`);
        assertDeclared(method, path, status);
        // Reading a body can stall (408), be too large (413) or find no room (503).
        if (operation(method, path).requestBody !== undefined) for (const bodyStatus of [408, 413, 503]) assertDeclared(method, path, bodyStatus);
      }
    }
    // A long poll needs a subscription; a session needs one only for type=queue.
    await http.call('POST', '/v1/topics', { name: 'described', partitions: 1 });
    const noSubscription = await http.call('GET', '/v1/topics/described/messages');
    assert.equal(noSubscription.status, 400);
    const subscriptionParam = (path: string) => operation('GET', path).parameters.find((p: any) => p.name === 'subscription');
    assert.equal(subscriptionParam('/v1/topics/{topic}/messages').required, true);
    assert.equal(subscriptionParam('/v1/topics/{topic}/events').required, false);
    // A group with a live member: every read of it, and its deletion, is a conflict with a 409 code.
    await http.broker.joinGroup({
      groupId: 'described-live', memberId: '', clientId: 'test', clientHost: '127.0.0.1', sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000,
      protocolType: 'consumer', protocols: [{ name: 'roundrobin', metadata: Buffer.from([1]) }],
    });
    for (const [method, path, url] of [
      ['GET', '/v1/topics/{topic}/messages', '/v1/topics/described/messages?subscription=described-live'],
      ['GET', '/v1/topics/{topic}/events', '/v1/topics/described/events?subscription=described-live'],
      ['DELETE', '/v1/groups/{group}', '/v1/groups/described-live'],
    ] as const) {
      const answer = await http.call(method, url);
      assert.deepEqual([answer.status, answer.body.error.code], [409, 'GROUP_NOT_EMPTY'], url);
      assertDeclared(method, path, answer.status);
    }
    // Produce on a disk below the broker's free-space minimum.
    const full = await startTestHttp({ broker: { diskFreeMinBytes: Number.MAX_SAFE_INTEGER } });
    try {
      const refused = await full.call('POST', '/v1/topics/full/messages', { messages: [{ value: 'x' }] });
      assert.deepEqual([refused.status, refused.body.error.code], [507, 'DISK_FREE_LOW']);
      assertDeclared('POST', '/v1/topics/{topic}/messages', refused.status);
    } finally {
      await full.stop();
    }
  });

  test('openapi.json declares exactly the query parameters each route takes', () => {
    const paths = openApiDocument.paths as Record<string, Record<string, { parameters?: { name: string; in: string }[] }>>;
    for (const route of http.listener.routes()) {
      if (route.path === '/console') continue; // a redirect openapi.json leaves out (/console/{path} covers it)
      const operation = paths[route.path.replace('*}', '}')]![route.method.toLowerCase()]!;
      const declared = (operation.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
      const taken = route.query === 'ignored' ? [] : route.query;
      assert.deepEqual([...declared].sort(), [...taken].sort(), `${route.method} ${route.path}`);
    }
  });

  test('PUT on a subscription of a missing topic answers 404 UNKNOWN_TOPIC without auto-creation, as the native protocol does, and makes nothing', async () => {
    const answer = await http.call('PUT', '/v1/topics/never-made/subscriptions/w');
    assert.deepEqual([answer.status, answer.body.error.code], [404, 'UNKNOWN_TOPIC']);
    assert.equal((await http.call('GET', '/v1/topics/never-made')).status, 404);
    assert.deepEqual((await http.call('GET', '/v1/subscriptions?topic=never-made')).body.subscriptions, []);
    // The broker every protocol calls refuses the same way (native createSubscription, weir subscription create).
    await assert.rejects(http.broker.createSubscription('never-made', 'w'), { code: 'UNKNOWN_TOPIC' });
  });

  test('/ redirects to the console, the demo page is served, /metrics answers Prometheus text', async () => {
    const root = await fetch(`${http.base}/`, { redirect: 'manual' });
    assert.equal(root.status, 302);
    assert.equal(root.headers.get('location'), '/console/');
    const demo = await fetch(`${http.base}/demo/chat`);
    assert.equal(demo.status, 200);
    assert.match(demo.headers.get('content-type')!, /text\/html/);
    const page = await demo.text();
    assert.match(page, /\/v1\/topics\/' \+ topic \+ '\/ws\?type=stream/);
    assert.doesNotMatch(page, /https?:\/\/(?!\/)/, 'the demo page loads nothing from outside');
    const metrics = await fetch(`${http.base}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get('content-type')!, /text\/plain; version=0\.0\.4/);
    assert.match(await metrics.text(), /weir_partition_log_end_offset\{topic="orders",partition="0"\} 3/);
  });
});
