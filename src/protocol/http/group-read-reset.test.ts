/**
 * An offset reset made while an HTTP group read is between its fetch and its commit: the reset
 * wins. The read's fetch is held (the broker behind the listener is the real one, its fetch
 * wrapped) so that the reset lands exactly there.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Broker } from '../../broker/broker.js';
import { HttpListener } from './http-listener.js';
import { readPartitionBytesMax } from './stream-read.js';
import { startTestHttp, type TestHttp } from './testing-http.js';

let http: TestHttp;
let held: HttpListener;
let heldBase: string;
/** The next group read's fetch stops until `release`; `reached` settles once it has stopped. */
const gate = { armed: false, reached: () => {}, release: () => {} };

before(async () => {
  http = await startTestHttp();
  const broker = http.broker;
  const fetchHeld: Broker['fetch'] = async (request, signal) => {
    if (gate.armed && request.partitions.every((p) => p.bytesMax === readPartitionBytesMax)) {
      gate.armed = false;
      const released = new Promise<void>((resolve) => (gate.release = resolve));
      gate.reached();
      const results = await broker.fetch(request, signal); // read before the reset
      await released;
      return results;
    }
    return broker.fetch(request, signal);
  };
  const wrapped = new Proxy(broker, {
    get(target, property) {
      if (property === 'fetch') return fetchHeld;
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  held = new HttpListener(wrapped, { host: '127.0.0.1', port: 0, logger: () => {} });
  heldBase = `http://127.0.0.1:${(await held.start()).port}`;
});

after(async () => {
  await held.close();
  await http.stop();
});

test('a group offset reset made while an HTTP read of the group is between fetch and commit wins: the read starts again from the reset offset', async () => {
  await http.call('POST', '/v1/topics', { name: 'replayed', partitions: 1 });
  await http.call('POST', '/v1/topics/replayed/messages', { messages: ['m0', 'm1', 'm2', 'm3', 'm4', 'm5'].map((value) => ({ value, partition: 0 })) });
  await http.broker.commitOffsets({ groupId: 'billing' }, [{ topic: 'replayed', partition: 0, offset: 3n, metadata: null }]);

  const reached = new Promise<void>((resolve) => (gate.reached = resolve));
  gate.armed = true;
  const reading = fetch(`${heldBase}/v1/topics/replayed/messages?subscription=billing&type=stream&max=2`).then((r) => r.json() as Promise<any>);
  await reached; // the read fetched m3 and m4 from offset 3 and has not committed
  const reset = await http.call('POST', '/v1/groups/billing/reset-offsets', { topic: 'replayed', to: 0 });
  assert.deepEqual(reset.body.resets, [{ partition: 0, previous: 3, offset: 0, note: null }]);
  gate.release();

  const read = await reading;
  assert.deepEqual(read.messages.map((m: any) => [m.offset, m.value]), [[0, 'm0'], [1, 'm1']], 'read again from the reset offset');
  const group = await http.call('GET', '/v1/groups/billing');
  assert.deepEqual(group.body.offsets.map((o: any) => [o.partition, o.offset]), [[0, 2]], 'the reset stands, advanced by what the read handed out');
});
