import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isWeirError } from '../../util/errors.js';
import { parseQuery } from './query-string.js';

const accepted = ['subscription', 'max', 'wait ms'];

test('parseQuery: what URLSearchParams writes reads back the same, for any well-formed text', () => {
  fc.assert(
    fc.property(fc.dictionary(fc.constantFrom(...accepted), fc.string({ unit: 'grapheme' })), (values) => {
      const search = `?${new URLSearchParams(values)}`;
      assert.deepEqual(Object.fromEntries(parseQuery(search, accepted)), { ...values });
    }),
  );
});

test('parseQuery: any query string is read or refused with INVALID_REQUEST, never read as U+FFFD', () => {
  const queryText = fc.array(fc.constantFrom('subscription', 'max', '=', '&', '+', '%', 'F', 'f', 'E', '9', '0', 'C3', 'A9', 'ED', '%FF', '%C3', 'x'), { maxLength: 24 }).map((parts) => parts.join(''));
  fc.assert(
    fc.property(queryText, (text) => {
      try {
        for (const [name, value] of parseQuery(text, accepted)) assert.ok(!`${name}${value}`.includes('\uFFFD'), text);
      } catch (error) {
        assert.ok(isWeirError(error, 'INVALID_REQUEST'), `${text}: ${String(error)}`);
      }
    }),
  );
});

test('parseQuery: the parameter is named when its value is not percent-encoded UTF-8, unknown, or repeated', () => {
  const refusals: [string, string][] = [
    ['?subscription=%FF', 'query parameter subscription: expected percent-encoded UTF-8 text, got "%FF"'],
    ['?max=1&subscription=a%ZZ', 'query parameter subscription: expected percent-encoded UTF-8 text, got "a%ZZ"'],
    ['?group=g', 'unknown query parameter "group": this route takes subscription, max, wait ms'],
    ['?max=1&max=2', 'query parameter max is given more than once'],
    ['?%C3=1', 'query parameter name: expected percent-encoded UTF-8 text, got "%C3"'],
  ];
  for (const [text, message] of refusals) assert.throws(() => parseQuery(text, accepted), { code: 'INVALID_REQUEST', message }, text);
  assert.throws(() => parseQuery('?a=1', []), { message: 'unknown query parameter "a": this route takes no query parameters' });
  assert.equal([...parseQuery('', accepted)].length, 0);
  assert.deepEqual(Object.fromEntries(parseQuery('?wait+ms=1&&subscription=caf%C3%A9+x&max', accepted)), { 'wait ms': '1', subscription: 'café x', max: '' });
});
