import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRoute, routeHref } from './router.js';

test('a route round-trips through the hash, names escaped', () => {
  const href = routeHref('messages', { topic: 'orders/eu & us', partition: 2, offset: 0, time: undefined });
  const route = parseRoute(href);
  assert.equal(route.page, 'messages');
  assert.equal(route.params.get('topic'), 'orders/eu & us');
  assert.equal(route.params.get('partition'), '2');
  assert.equal(route.params.get('offset'), '0');
  assert.equal(route.params.has('time'), false);
});

test('an empty or unknown hash shows the overview', () => {
  assert.equal(parseRoute('').page, 'overview');
  assert.equal(parseRoute('#/nowhere?x=1').page, 'overview');
  assert.equal(parseRoute('#dead-letters').page, 'dead-letters');
});
