import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ByteBudget, SharedByteBudget } from './byte-budget.js';

test('a shared budget grants all bytes while they fit, then the room left, then grantBytesMin, never more than asked', () => {
  const shared = new SharedByteBudget({ bytesMax: 1000, grantBytesMin: 100 });
  assert.equal(shared.grant(600), 600);
  assert.equal(shared.grant(600), 400); // the room left
  assert.equal(shared.grant(600), 100); // none left: the floor, past the bound
  assert.equal(shared.grant(50), 50);
  assert.equal(shared.held, 1150);
  assert.equal(shared.fits(1), false);
  shared.release(1150);
  assert.equal(shared.held, 0);
  assert.throws(() => shared.release(1), /released more than held/);
});

test('a budget with a shared one holds what the shared one grants, in both, and releases both', async () => {
  const shared = new SharedByteBudget({ bytesMax: 1000, grantBytesMin: 100 });
  const first = new ByteBudget(() => true, shared);
  const second = new ByteBudget(() => true, shared);
  assert.equal(await first.take(900), 900);
  assert.equal(await second.take(900), 100);
  assert.deepEqual([first.held, second.held, shared.held], [900, 100, 1000]);
  first.release(900);
  assert.equal(await second.take(900), 900);
  second.release(1000);
  assert.deepEqual([first.held, second.held, shared.held], [0, 0, 0]);
});
