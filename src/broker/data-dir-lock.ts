/**
 * The data directory's lock: `<dataDir>/.lock` names the broker process that uses the directory,
 * by PID and, where the system tells it (Linux's /proc), by the process's start time and the
 * boot it started in. A PID alone is not enough after a crash: the PID is reused, and a broker
 * that runs as PID 1 (the usual case in a container) would see its own PID in the lock of its
 * killed predecessor and refuse to start. A lock is taken over when its process is gone, is this
 * process, is a zombie, or is a different process under the same PID.
 */

import type { FileHandle } from 'node:fs/promises';
import { link, open, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { WeirError } from '../util/errors.js';

export interface DataDirLock {
  release(): Promise<void>;
}

/** Takes the lock of `dataDir`: INVALID_CONFIG naming the process that holds it. */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const path = resolve(dataDir, '.lock');
  if (heldHere.has(path)) throw new WeirError('INVALID_CONFIG', `data directory ${dataDir} is in use by process ${process.pid}`);
  heldHere.add(path);
  try {
    const handle = await takeOver(path, dataDir);
    return {
      async release() {
        heldHere.delete(path);
        await handle.close();
        await rm(path, { force: true });
      },
    };
  } catch (error) {
    heldHere.delete(path);
    throw error;
  }
}

async function takeOver(path: string, dataDir: string): Promise<FileHandle> {
  const self = await processIdentity(process.pid);
  for (let attempt = 0; attempt < 2; attempt++) {
    // Linked into place whole: another broker never reads a lock file without its content.
    const written = join(dataDir, `.lock.${process.pid}`);
    try {
      await writeFile(written, formatIdentity(process.pid, self));
      try {
        await link(written, path);
      } finally {
        await rm(written, { force: true });
      }
      return await open(path, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = parseLock(await readFile(path, 'utf8').catch(() => ''));
      if (holder !== undefined && (await holds(holder))) {
        throw new WeirError('INVALID_CONFIG', `data directory ${dataDir} is in use by process ${holder.pid}`);
      }
      await rm(path, { force: true }); // left by a process that died
    }
  }
  throw new WeirError('INVALID_CONFIG', `could not lock data directory ${dataDir}`);
}

/** The locks this process holds, by path: a second broker in this process is refused, while this PID in another lock is a predecessor's. */
const heldHere = new Set<string>();

/** What /proc says of a process: its start time (clock ticks after boot), its boot, and whether it has exited. */
interface ProcessIdentity {
  startTime: string;
  bootId: string;
  exited: boolean;
}

interface LockHolder {
  pid: number;
  startTime?: string;
  bootId?: string;
}

/** `PID` alone where /proc is missing, else `PID START-TIME BOOT-ID`. */
function formatIdentity(pid: number, identity: ProcessIdentity | undefined): string {
  return identity === undefined ? String(pid) : `${pid} ${identity.startTime} ${identity.bootId}`;
}

function parseLock(text: string): LockHolder | undefined {
  const [pid, startTime, bootId] = text.trim().split(' ');
  const number = Number(pid);
  if (!Number.isSafeInteger(number) || number <= 0) return undefined;
  return { pid: number, startTime, bootId };
}

/** Whether the process the lock names still runs: the same PID, start time and boot. */
async function holds(holder: LockHolder): Promise<boolean> {
  if (holder.pid === process.pid) return false; // a predecessor's: this process would have it in heldHere
  if (!processAlive(holder.pid)) return false;
  const running = await processIdentity(holder.pid);
  if (running === undefined) return true; // nothing more to tell by
  if (running.exited) return false;
  if (holder.bootId !== undefined && holder.bootId !== running.bootId) return false;
  return holder.startTime === undefined || holder.startTime === running.startTime;
}

async function processIdentity(pid: number): Promise<ProcessIdentity | undefined> {
  try {
    const [stat, bootId] = await Promise.all([readFile(`/proc/${pid}/stat`, 'utf8'), readFile('/proc/sys/kernel/random/boot_id', 'utf8')]);
    // After "pid (comm) ": the state is field 3 and the start time field 22 (proc(5)); comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = fields[0];
    const startTime = fields[19];
    if (state === undefined || startTime === undefined) return undefined;
    return { startTime, bootId: bootId.trim(), exited: state === 'Z' || state === 'X' || state === 'x' };
  } catch {
    return undefined;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
