/**
 * An in-memory file system that remembers what has been made durable, for crash tests.
 *
 * Every file (inode) has a durable content and the writes and truncations issued since its last
 * fdatasync (a write through a `readWriteDurable` handle counts as the write and an fdatasync of
 * the file; O_DSYNC syncs only the written range, so a durable write to a file that has other
 * unsynced changes is refused with an error, as the caller's bug it is); every directory has the entry changes (create, rename, unlink) issued
 * since its last fsync. `crash()` simulates a power loss: for each file a random prefix of its
 * unsynced operations survives (the last surviving write possibly torn to a random prefix of its
 * bytes), for each directory a random prefix of its unsynced entry changes survives, and
 * everything else is lost.
 * Views handed out before the crash fail every later call (the crashed process is gone).
 *
 * Faults: `capacityBytes` makes writes past the total size fail with ENOSPC after writing what fits;
 * `failNext(operation, code)` makes the next call of an operation fail with that errno code.
 */
import { posix } from 'node:path';
import type { FileStat, FileSystem, OpenMode } from '../file-system.js';

type FileOperation = { kind: 'write'; position: number; data: Buffer } | { kind: 'truncate'; sizeBytes: number };
type EntryChange = { kind: 'link'; name: string; inode: Inode } | { kind: 'unlink'; name: string } | { kind: 'rename'; from: string; to: string };

class Inode {
  content: Buffer = Buffer.alloc(0);
  durable: Buffer = Buffer.alloc(0);
  unsynced: FileOperation[] = [];
  modifiedMs = 0;
}

class Directory {
  entries = new Map<string, Inode>();
  durableEntries = new Map<string, Inode>();
  unsynced: EntryChange[] = [];
}

export type FaultOperation = 'open' | 'read' | 'write' | 'fdatasync' | 'truncate' | 'rename' | 'unlink' | 'fsyncDirectory';

function errno(code: string, message: string): Error {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

/** Deterministic pseudo-random numbers (mulberry32). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function applyOperation(content: Buffer, operation: FileOperation): Buffer {
  if (operation.kind === 'truncate') {
    if (operation.sizeBytes <= content.length) return content.subarray(0, operation.sizeBytes);
    return Buffer.concat([content, Buffer.alloc(operation.sizeBytes - content.length)]);
  }
  const end = operation.position + operation.data.length;
  const grown = end > content.length ? Buffer.concat([content, Buffer.alloc(end - content.length)]) : Buffer.from(content);
  operation.data.copy(grown, operation.position);
  return grown;
}

export class CrashFileSystem {
  #directories = new Map<string, Directory>([['/', new Directory()]]);
  #handles = new Map<number, { inode: Inode; generation: number; durable: boolean }>();
  #handleNext = 3;
  #generation = 0;
  #random: () => number;
  #faults: Array<{ operation: FaultOperation; code: string }> = [];
  #crashCountdown: number | null = null;
  capacityBytes = Infinity;
  clockMs = 0;
  operationCount = 0;

  constructor(options: { seed?: number } = {}) {
    this.#random = seededRandom(options.seed ?? 1);
  }

  /** A FileSystem for the current "process"; it stops working at the next crash. */
  view(): FileSystem {
    const generation = this.#generation;
    const check = (operation: FaultOperation | 'other') => {
      if (generation === this.#generation && this.#crashCountdown !== null && --this.#crashCountdown <= 0) {
        this.#crashCountdown = null;
        this.crash();
      }
      if (generation !== this.#generation) throw errno('EIO', 'the process crashed (stale file-system view)');
      this.operationCount++;
      const index = this.#faults.findIndex((fault) => fault.operation === operation);
      if (index >= 0) {
        const [fault] = this.#faults.splice(index, 1);
        throw errno(fault!.code, `injected ${fault!.code} on ${operation}`);
      }
    };
    const run = async <T>(operation: FaultOperation | 'other', work: () => T): Promise<T> => {
      await Promise.resolve();
      check(operation);
      return work();
    };
    return {
      open: (path, mode) => run('open', () => this.#open(path, mode, generation)),
      close: (handle) =>
        run('other', () => {
          this.#handleOf(handle, generation);
          this.#handles.delete(handle);
        }),
      read: (handle, buffer, offset, length, position) =>
        run('read', () => {
          const { content } = this.#handleOf(handle, generation);
          if (position >= content.length) return 0;
          return content.copy(buffer, offset, position, Math.min(content.length, position + length));
        }),
      write: (handle, buffers, position) =>
        run('write', () => {
          const inode = this.#handleOf(handle, generation);
          const durable = this.#handles.get(handle)!.durable;
          // O_DSYNC makes only the written range durable, so the file's other unsynced changes
          // would stay at risk behind data reported durable: a bug in the caller, refused here.
          if (durable && inode.unsynced.length > 0) {
            throw new Error(`a durable write to a file with ${inode.unsynced.length} unsynced changes: O_DSYNC leaves those unsynced`);
          }
          this.#write(inode, buffers, position);
          if (durable) makeDurable(inode);
        }),
      fdatasync: (handle) => run('fdatasync', () => makeDurable(this.#handleOf(handle, generation))),
      truncate: (handle, sizeBytes) =>
        run('truncate', () => {
          const inode = this.#handleOf(handle, generation);
          this.#modify(inode, { kind: 'truncate', sizeBytes });
        }),
      sizeOf: (handle) => run('other', () => this.#handleOf(handle, generation).content.length),
      rename: (from, to) => run('rename', () => this.#rename(from, to)),
      unlink: (path) => run('unlink', () => this.#unlink(path)),
      readdir: (path) => run('other', () => this.#readdir(path)),
      mkdir: (path) => run('other', () => this.#mkdir(path)),
      fsyncDirectory: (path) =>
        run('fsyncDirectory', () => {
          const directory = this.#directory(path);
          directory.durableEntries = new Map(directory.entries);
          directory.unsynced = [];
        }),
      stat: (path) => run('other', () => this.#stat(path)),
      removeTree: (path) => run('other', () => this.#removeTree(path)),
      freeBytes: () => run('other', () => Math.max(0, this.capacityBytes - this.usedBytes)),
    };
  }

  /** Crashes just before the `operations`-th next call through a current view (in the middle of whatever runs). */
  crashAfter(operations: number): void {
    this.#crashCountdown = operations;
  }

  /** Number of crashes so far. */
  get crashCount(): number {
    return this.#generation;
  }

  /** Makes the next call of `operation` fail with errno `code`. */
  failNext(operation: FaultOperation, code: string): void {
    this.#faults.push({ operation, code });
  }

  /** Total bytes of all files as they are now. */
  get usedBytes(): number {
    let total = 0;
    const seen = new Set<Inode>();
    for (const directory of this.#directories.values()) {
      for (const inode of directory.entries.values()) {
        if (!seen.has(inode)) total += inode.content.length;
        seen.add(inode);
      }
    }
    return total;
  }

  /** Simulated power loss: keeps a random prefix of every file's and directory's unsynced changes. */
  crash(): void {
    this.#generation++;
    this.#crashCountdown = null;
    this.#handles.clear();
    this.#faults = [];
    const inodes = new Set<Inode>();
    for (const directory of this.#directories.values()) {
      const keep = Math.floor(this.#random() * (directory.unsynced.length + 1));
      for (const change of directory.unsynced.slice(0, keep)) applyEntryChange(directory.durableEntries, change);
      directory.entries = new Map(directory.durableEntries);
      directory.unsynced = [];
      for (const inode of directory.entries.values()) inodes.add(inode);
    }
    for (const inode of inodes) this.#crashInode(inode);
  }

  /** Bytes of a file as they are now (for tests), or null. */
  contentOf(path: string): Buffer | null {
    const inode = this.#lookup(path);
    return inode === undefined ? null : Buffer.from(inode.content);
  }

  /** Replaces a file's content, durably (for tests that damage files). */
  setContent(path: string, content: Buffer): void {
    const inode = this.#lookup(path);
    if (inode === undefined) throw errno('ENOENT', path);
    inode.content = Buffer.from(content);
    inode.durable = inode.content;
    inode.unsynced = [];
  }

  #crashInode(inode: Inode): void {
    const keep = Math.floor(this.#random() * (inode.unsynced.length + 1));
    let content = inode.durable;
    for (const operation of inode.unsynced.slice(0, keep)) content = applyOperation(content, operation);
    const torn = inode.unsynced[keep];
    if (torn !== undefined && torn.kind === 'write' && this.#random() < 0.5) {
      const bytes = Math.floor(this.#random() * torn.data.length);
      content = applyOperation(content, { kind: 'write', position: torn.position, data: torn.data.subarray(0, bytes) });
    }
    inode.content = content;
    inode.durable = content;
    inode.unsynced = [];
  }

  #handleOf(handle: number, generation: number): Inode {
    const entry = this.#handles.get(handle);
    if (entry === undefined || entry.generation !== generation) throw errno('EBADF', `handle ${handle}`);
    return entry.inode;
  }

  #split(path: string): { directory: Directory; name: string } {
    const normal = posix.normalize(path);
    const directory = this.#directories.get(posix.dirname(normal));
    if (directory === undefined) throw errno('ENOENT', `no directory ${posix.dirname(normal)}`);
    return { directory, name: posix.basename(normal) };
  }

  #directory(path: string): Directory {
    const directory = this.#directories.get(posix.normalize(path));
    if (directory === undefined) throw errno('ENOENT', `no directory ${path}`);
    return directory;
  }

  #lookup(path: string): Inode | undefined {
    const normal = posix.normalize(path);
    return this.#directories.get(posix.dirname(normal))?.entries.get(posix.basename(normal));
  }

  #open(path: string, mode: OpenMode, generation: number): number {
    const { directory, name } = this.#split(path);
    let inode = directory.entries.get(name);
    if (inode === undefined) {
      if (mode !== 'create') throw errno('ENOENT', path);
      inode = new Inode();
      inode.modifiedMs = this.clockMs;
      this.#change(directory, { kind: 'link', name, inode });
    }
    const handle = this.#handleNext++;
    this.#handles.set(handle, { inode, generation, durable: mode === 'readWriteDurable' });
    return handle;
  }

  #write(inode: Inode, buffers: readonly Buffer[], position: number): void {
    let at = position;
    for (const buffer of buffers) {
      const end = at + buffer.length;
      const growth = Math.max(0, end - inode.content.length);
      const room = this.capacityBytes - this.usedBytes;
      if (growth > room) {
        const fits = Math.max(0, inode.content.length + Math.max(0, room) - at);
        if (fits > 0) this.#modify(inode, { kind: 'write', position: at, data: Buffer.from(buffer.subarray(0, fits)) });
        throw errno('ENOSPC', 'no space left on device');
      }
      this.#modify(inode, { kind: 'write', position: at, data: Buffer.from(buffer) });
      at = end;
    }
  }

  #modify(inode: Inode, operation: FileOperation): void {
    inode.content = applyOperation(inode.content, operation);
    inode.unsynced.push(operation);
    inode.modifiedMs = this.clockMs;
  }

  #change(directory: Directory, change: EntryChange): void {
    applyEntryChange(directory.entries, change);
    directory.unsynced.push(change);
  }

  #rename(from: string, to: string): void {
    const source = this.#split(from);
    const target = this.#split(to);
    if (source.directory !== target.directory) throw errno('EXDEV', 'rename across directories is not modelled');
    if (!source.directory.entries.has(source.name)) throw errno('ENOENT', from);
    this.#change(source.directory, { kind: 'rename', from: source.name, to: target.name });
  }

  #unlink(path: string): void {
    const { directory, name } = this.#split(path);
    if (!directory.entries.has(name)) throw errno('ENOENT', path);
    this.#change(directory, { kind: 'unlink', name });
  }

  #readdir(path: string): string[] {
    const normal = posix.normalize(path);
    const names = [...this.#directory(normal).entries.keys()];
    for (const key of this.#directories.keys()) {
      if (key !== normal && posix.dirname(key) === normal) names.push(posix.basename(key));
    }
    return names;
  }

  #mkdir(path: string): void {
    const normal = posix.normalize(path);
    if (this.#directories.has(normal)) return;
    this.#mkdir(posix.dirname(normal));
    this.#directories.set(normal, new Directory());
  }

  #stat(path: string): FileStat | null {
    const normal = posix.normalize(path);
    if (this.#directories.has(normal)) return { sizeBytes: 0, modifiedMs: 0, isDirectory: true };
    const inode = this.#lookup(normal);
    return inode === undefined ? null : { sizeBytes: inode.content.length, modifiedMs: inode.modifiedMs, isDirectory: false };
  }

  #removeTree(path: string): void {
    const normal = posix.normalize(path);
    for (const key of [...this.#directories.keys()]) {
      if (key === normal || key.startsWith(`${normal}/`)) this.#directories.delete(key);
    }
  }
}

function makeDurable(inode: Inode): void {
  inode.durable = inode.content;
  inode.unsynced = [];
}

function applyEntryChange(entries: Map<string, Inode>, change: EntryChange): void {
  if (change.kind === 'link') entries.set(change.name, change.inode);
  else if (change.kind === 'unlink') entries.delete(change.name);
  else {
    const inode = entries.get(change.from);
    if (inode === undefined) return;
    entries.delete(change.from);
    entries.set(change.to, inode);
  }
}
