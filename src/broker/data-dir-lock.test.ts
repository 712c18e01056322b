import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { lockDataDir } from './data-dir-lock.js';

const dirs: string[] = [];
const children: ChildProcess[] = [];
after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'weir-lock-'));
  dirs.push(dir);
  return dir;
}

/** A child process that prints its first line once ready and then stays until killed. */
async function startChild(command: string, args: string[]): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  let output = '';
  for await (const chunk of child.stdout!) {
    output += String(chunk);
    if (output.includes('\n')) break;
  }
  return { child, line: output.split('\n')[0]! };
}

const lockModule = fileURLToPath(new URL('./data-dir-lock.js', import.meta.url));
const bootId = async () => (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();

test('a data directory locked by another live process is refused, naming it; once that process is killed, the lock is taken over', async () => {
  const dir = await tempDir();
  const holderScript = `import(${JSON.stringify(lockModule)}).then((m) => m.lockDataDir(${JSON.stringify(dir)})).then(() => { console.log('locked'); setInterval(() => {}, 1000); });`;
  const { child, line } = await startChild(process.execPath, ['-e', holderScript]);
  assert.equal(line, 'locked');
  await assert.rejects(lockDataDir(dir), new RegExp(`in use by process ${child.pid}$`));

  child.kill('SIGKILL');
  await once(child, 'exit');
  const lock = await lockDataDir(dir);
  assert.match(await readFile(join(dir, '.lock'), 'utf8'), new RegExp(`^${process.pid} \\d+ ${await bootId()}$`));
  await lock.release();
});

test('a lock naming this process\'s PID was left by a predecessor under the same PID (a broker run as PID 1 and killed) and is taken over; a second lock in this process is refused', async () => {
  for (const left of [`${process.pid} 1 ${await bootId()}`, String(process.pid)]) {
    const dir = await tempDir();
    await writeFile(join(dir, '.lock'), left);
    const lock = await lockDataDir(dir);
    await assert.rejects(lockDataDir(dir), new RegExp(`in use by process ${process.pid}$`));
    await lock.release();
    await lockDataDir(dir).then((again) => again.release());
  }
});

test('a lock whose PID now belongs to another process (a different start time or boot), or to a zombie, is taken over; one naming a live process by PID alone (as older brokers wrote) is refused', async () => {
  const { child } = await startChild('sh', ['-c', 'echo ready; exec sleep 60']);
  const { line: zombiePid } = await startChild('sh', ['-c', 'sleep 0 & echo $!; exec sleep 60']); // sleep 60 never reaps it
  await new Promise((resolve) => setTimeout(resolve, 200));
  const lefts = [`${child.pid} 1 ${await bootId()}`, `${child.pid} 1 another-boot`, zombiePid];
  for (const left of lefts) {
    const dir = await tempDir();
    await writeFile(join(dir, '.lock'), left);
    await lockDataDir(dir).then((lock) => lock.release());
  }
  const dir = await tempDir();
  await writeFile(join(dir, '.lock'), String(child.pid));
  await assert.rejects(lockDataDir(dir), new RegExp(`in use by process ${child.pid}$`));
});
