/**
 * One contract for both file systems: the node implementation and the crash-simulating one must
 * behave alike (positions, short reads, error codes), or the crash tests prove nothing about the
 * real thing.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { errorCodeOf, nodeFileSystem, readWholeFile, writeFileAtomic, type FileSystem } from './file-system.js';
import { CrashFileSystem } from './testing/crash-file-system.js';

const root = await mkdtemp(join(tmpdir(), 'weir-fs-test-'));
after(() => rm(root, { recursive: true, force: true }));

const implementations: Array<[string, () => { fileSystem: FileSystem; dir: string }]> = [
  ['node', () => ({ fileSystem: nodeFileSystem, dir: join(root, 'contract') })],
  ['crash', () => ({ fileSystem: new CrashFileSystem().view(), dir: '/contract' })],
];

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error) => errorCodeOf(error) === code);
}

for (const [name, make] of implementations) {
  test(`file system contract: ${name}`, async () => {
    const { fileSystem, dir } = make();
    await fileSystem.mkdir(`${dir}/sub`);
    await fileSystem.mkdir(`${dir}/sub`);
    assert.equal((await fileSystem.stat(`${dir}/sub`))?.isDirectory, true);
    assert.equal(await fileSystem.stat(`${dir}/missing`), null);
    await rejectsWith(fileSystem.open(`${dir}/missing`, 'readWrite'), 'ENOENT');
    await rejectsWith(fileSystem.open(`${dir}/missing`, 'readWriteDurable'), 'ENOENT');
    const handle = await fileSystem.open(`${dir}/file`, 'create');
    await fileSystem.write(handle, [Buffer.from('hello '), Buffer.from('world')], 0);
    await fileSystem.write(handle, [Buffer.from('W')], 6);
    await fileSystem.fdatasync(handle);
    assert.equal(await fileSystem.sizeOf(handle), 11);
    const buffer = Buffer.alloc(20);
    assert.equal(await fileSystem.read(handle, buffer, 2, 18, 6), 5, 'a read past the end is short');
    assert.equal(buffer.subarray(2, 7).toString(), 'World');
    assert.equal(await fileSystem.read(handle, buffer, 0, 4, 11), 0, 'a read at the end returns 0');
    await fileSystem.truncate(handle, 5);
    assert.equal(await fileSystem.sizeOf(handle), 5);
    await fileSystem.write(handle, [Buffer.from('!')], 7);
    assert.deepEqual(await readWholeFile(fileSystem, `${dir}/file`, 100), Buffer.from('hello\0\0!'), 'a gap reads as zeros');
    await fileSystem.fdatasync(handle); // the crash file system refuses a durable write to a file with unsynced changes
    await fileSystem.close(handle);
    const again = await fileSystem.open(`${dir}/file`, 'create');
    assert.equal(await fileSystem.sizeOf(again), 8, 'create never truncates');
    await fileSystem.close(again);
    const durable = await fileSystem.open(`${dir}/file`, 'readWriteDurable');
    await fileSystem.write(durable, [Buffer.from('?')], 5);
    await fileSystem.close(durable);
    assert.deepEqual(await readWholeFile(fileSystem, `${dir}/file`, 100), Buffer.from('hello?\0!'), 'a durable descriptor writes in place');
    await fileSystem.rename(`${dir}/file`, `${dir}/renamed`);
    await rejectsWith(fileSystem.rename(`${dir}/file`, `${dir}/other`), 'ENOENT');
    await writeFileAtomic(fileSystem, dir, 'atomic', Buffer.from('v1'));
    await writeFileAtomic(fileSystem, dir, 'atomic', Buffer.from('v2'), { sync: false });
    assert.deepEqual(await readWholeFile(fileSystem, `${dir}/atomic`, 10), Buffer.from('v2'));
    await fileSystem.fsyncDirectory(dir);
    assert.deepEqual((await fileSystem.readdir(dir)).sort(), ['atomic', 'renamed', 'sub']);
    await fileSystem.unlink(`${dir}/renamed`);
    await rejectsWith(fileSystem.unlink(`${dir}/renamed`), 'ENOENT');
    assert.equal(await readWholeFile(fileSystem, `${dir}/renamed`, 10), null);
    await fileSystem.removeTree(dir);
    assert.equal(await fileSystem.stat(dir), null);
    await fileSystem.removeTree(dir);
  });
}
