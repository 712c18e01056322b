import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ByteBudget, ConnectionRequestBytes, RequestMemory, SharedByteBudget } from './byte-budget.js';

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

test('takeNow grants what take would when the bytes fit and nobody waits, else null and holds nothing', async () => {
  const shared = new SharedByteBudget({ bytesMax: 1000, grantBytesMin: 100 });
  let room = true;
  const budget = new ByteBudget(() => room, shared);
  assert.equal(budget.takeNow(600), 600);
  assert.equal(budget.takeNow(600), 400); // the shared budget's room left
  room = false;
  assert.equal(budget.takeNow(10), null);
  const waiting = budget.take(10);
  room = true;
  assert.equal(budget.takeNow(10), null, 'a waiting task goes first');
  budget.release(400); // starts the waiting task
  assert.equal(await waiting, 10);
  assert.equal(budget.takeNow(10), 10);
  assert.deepEqual([budget.held, shared.held], [620, 620]);
});

test('request memory: past the bound one assembling connection reads on (the pass); the others wait and wake when it is free', async () => {
  const memory = new RequestMemory({ bytesMax: 1000, connectionBytesFree: 100 });
  const first = new ConnectionRequestBytes(memory);
  const second = new ConnectionRequestBytes(memory);
  const small = new ConnectionRequestBytes(memory);
  first.setReader(600, true);
  second.setReader(500, true);
  let secondWoken: () => void = () => {};
  const woken = new Promise<void>((resolve) => (secondWoken = resolve));
  const wake = (): boolean => {
    secondWoken();
    return second.mayRead(true, wake);
  };
  assert.equal(first.mayRead(true, () => assert.fail('first never waits')), true, 'the first to find the bound full takes the pass');
  assert.equal(second.mayRead(true, wake), false);
  assert.equal(memory.waiting, 1);
  assert.equal(small.mayRead(false, () => assert.fail('small never waits')), true, 'a connection holding at most connectionBytesFree reads');
  // The first frame completes and is handled: the pass and its bytes go, and the second reads on.
  first.setReader(0, false);
  first.holdFrame(600);
  first.releaseFrame(600);
  await woken;
  assert.equal(memory.waiting, 0);
  assert.equal(second.mayRead(true, wake), true);
  second.close();
  first.close();
  assert.equal(memory.held, 0);
});
