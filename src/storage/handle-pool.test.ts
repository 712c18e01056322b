import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { OpenMode } from './file-system.js';
import { HandlePool } from './handle-pool.js';
import { CrashFileSystem } from './testing/crash-file-system.js';

async function setup(handlesMax: number, files: number) {
  const disk = new CrashFileSystem();
  const fileSystem = disk.view();
  await fileSystem.mkdir('/d');
  for (let i = 0; i < files; i++) await fileSystem.close(await fileSystem.open(`/d/f${i}`, 'create'));
  let open = 0;
  let openMax = 0;
  const counting = {
    ...fileSystem,
    open: async (path: string, mode: OpenMode) => {
      const handle = await fileSystem.open(path, mode);
      openMax = Math.max(openMax, ++open);
      return handle;
    },
    close: async (handle: number) => {
      open--;
      await fileSystem.close(handle);
    },
  };
  return { pool: new HandlePool({ fileSystem: counting, handlesMax }), openMax: () => openMax, open: () => open };
}

test('the pool reuses open descriptors and evicts the least recently used one at its bound', async () => {
  const { pool, openMax } = await setup(2, 3);
  const a = await pool.acquire('/d/f0');
  pool.release('/d/f0', a);
  assert.equal(await pool.use('/d/f0', async (handle) => handle), a, 'an idle descriptor is reused');
  await pool.use('/d/f1', async () => undefined);
  await pool.use('/d/f0', async () => undefined); // f0 is now the most recent
  await pool.use('/d/f2', async () => undefined); // evicts f1
  assert.equal(pool.stats.opened, 3);
  await pool.use('/d/f0', async () => undefined);
  assert.equal(pool.stats.opened, 3, 'f0 survived the eviction');
  await pool.use('/d/f1', async () => undefined);
  assert.equal(pool.stats.opened, 4);
  assert.ok(openMax() <= 2);
});

test('when every descriptor is borrowed, acquirers wait their turn and the bound holds', async () => {
  const { pool, openMax, open } = await setup(3, 20);
  let active = 0;
  let activeMax = 0;
  await Promise.all(
    Array.from({ length: 60 }, (_, i) =>
      pool.use(`/d/f${i % 20}`, async () => {
        activeMax = Math.max(activeMax, ++active);
        await new Promise((resolve) => setTimeout(resolve, 1));
        active--;
      }),
    ),
  );
  assert.ok(openMax() <= 3, `opened ${openMax()} at once`);
  assert.ok(activeMax >= 2, 'borrowers of different files ran concurrently');
  assert.ok(pool.stats.waits > 0);
  await pool.retireUnder('/d/');
  assert.equal(open(), 0, 'retiring closes everything idle');
});

test('a retired descriptor is closed once its borrower returns it, and the next acquire opens afresh', async () => {
  const { pool, open } = await setup(4, 1);
  const handle = await pool.acquire('/d/f0');
  const retiring = pool.retire('/d/f0');
  await retiring;
  assert.equal(open(), 1, 'still borrowed, still open');
  const again = await pool.acquire('/d/f0');
  assert.notEqual(again, handle);
  pool.release('/d/f0', handle);
  assert.equal(pool.stats.open, 1);
  pool.release('/d/f0', again);
});

test('a durable (O_DSYNC) descriptor is pooled apart from the plain one and retired with it or alone', async () => {
  const { pool, open } = await setup(4, 1);
  const plain = await pool.use('/d/f0', async (handle) => handle);
  const durable = await pool.use('/d/f0', async (handle) => handle, 'readWriteDurable');
  assert.notEqual(durable, plain);
  assert.equal(await pool.use('/d/f0', async (handle) => handle, 'readWriteDurable'), durable, 'reused');
  assert.equal(open(), 2);
  await pool.retire('/d/f0', 'readWriteDurable');
  assert.equal(open(), 1, 'only the durable one closed');
  assert.equal(await pool.use('/d/f0', async (handle) => handle), plain);
  await pool.use('/d/f0', async () => {}, 'readWriteDurable');
  await pool.retire('/d/f0');
  assert.equal(open(), 0, 'retiring the path closes both');
});
