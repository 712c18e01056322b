/**
 * A bounded pool of open file descriptors shared by every partition log of a process.
 *
 * A broker with ten thousand partitions cannot keep a descriptor per segment open, so each log
 * borrows one for the length of a single operation (`acquire` … `release`) and the pool keeps the
 * most recently used ones open (LRU). At the bound, `acquire` closes the least recently used idle
 * descriptor; when every descriptor is borrowed it waits (in FIFO order) until one is returned.
 * An operation holds at most one handle at a time, so waiting cannot deadlock.
 *
 * Closing a descriptor never loses written data (it stays in the page cache), and on Linux an
 * fdatasync through a newer descriptor of the same file covers it.
 *
 * A file may have two descriptors in the pool: the plain read-write one every reader and writer
 * borrows, and a `readWriteDurable` (O_DSYNC) one through which the partition log writes the active
 * segment under flush `always`, so that a write and its sync are one call (file-system.ts).
 */
import assert from 'node:assert/strict';
import type { FileSystem, OpenMode } from './file-system.js';
import { nodeFileSystem } from './file-system.js';

export const handlesMaxDefault = 1000;

/** The kinds of descriptor the pool hands out (see OpenMode). */
export type PoolMode = Extract<OpenMode, 'readWrite' | 'readWriteDurable'>;

/** Pool key of a descriptor: the path for the plain one (NUL cannot occur in a path). */
function keyOf(path: string, mode: PoolMode): string {
  return mode === 'readWrite' ? path : `${path}\0durable`;
}

interface Entry {
  /** keyOf(path, mode) */
  key: string;
  handle: number;
  borrowers: number;
  /** Set when the file is being renamed or removed: close as soon as nobody borrows it. */
  retired: boolean;
}

export interface HandlePoolStats {
  open: number;
  openMax: number;
  opened: number;
  waits: number;
}

export class HandlePool {
  readonly fileSystem: FileSystem;
  readonly handlesMax: number;
  /** Insertion order is recency order: the first entry is the least recently used. */
  #entries = new Map<string, Entry>();
  /** Retired entries still borrowed: closed when returned; they count toward the bound. */
  #retired = new Set<Entry>();
  #pending = new Map<string, Promise<Entry>>();
  #opening = 0;
  #closing = 0;
  #waiters: Array<() => void> = [];
  #stats: HandlePoolStats = { open: 0, openMax: 0, opened: 0, waits: 0 };

  constructor(options: { fileSystem?: FileSystem; handlesMax?: number } = {}) {
    this.fileSystem = options.fileSystem ?? nodeFileSystem;
    this.handlesMax = options.handlesMax ?? handlesMaxDefault;
    assert.ok(Number.isInteger(this.handlesMax) && this.handlesMax >= 1, 'handlesMax must be a positive integer');
  }

  get stats(): HandlePoolStats {
    return { ...this.#stats };
  }

  /** Borrows a descriptor of `path` (which must exist) in `mode`. Pair with `release`. */
  async acquire(path: string, mode: PoolMode = 'readWrite'): Promise<number> {
    const key = keyOf(path, mode);
    for (;;) {
      const entry = this.#entries.get(key);
      if (entry !== undefined && !entry.retired) {
        entry.borrowers++;
        this.#entries.delete(key);
        this.#entries.set(key, entry);
        return entry.handle;
      }
      const pending = this.#pending.get(key);
      if (pending !== undefined) {
        await pending.catch(() => undefined);
        continue;
      }
      if (this.#entries.size + this.#retired.size + this.#opening + this.#closing >= this.handlesMax && !(await this.#makeRoom())) continue;
      const opening = this.#open(key, path, mode);
      this.#pending.set(key, opening);
      try {
        return (await opening).handle;
      } finally {
        this.#pending.delete(key);
      }
    }
  }

  release(path: string, handle: number, mode: PoolMode = 'readWrite'): void {
    const key = keyOf(path, mode);
    let entry = this.#entries.get(key);
    if (entry === undefined || entry.handle !== handle) entry = [...this.#retired].find((retired) => retired.handle === handle);
    assert.ok(entry !== undefined && entry.key === key && entry.borrowers > 0, `release of a handle not borrowed: ${path}`);
    entry.borrowers--;
    if (entry.borrowers === 0) {
      if (entry.retired) void this.#close(entry);
      else this.#wakeOne();
    }
  }

  /** Borrows a handle for the length of `work`. */
  async use<T>(path: string, work: (handle: number) => Promise<T>, mode: PoolMode = 'readWrite'): Promise<T> {
    const handle = await this.acquire(path, mode);
    try {
      return await work(handle);
    } finally {
      this.release(path, handle, mode);
    }
  }

  /**
   * Closes the descriptors of `path` (both kinds, or only `mode`'s), now or when their last
   * borrower returns them; call before the file is renamed or removed so that no later `acquire`
   * gets a descriptor of the old file.
   */
  async retire(path: string, mode?: PoolMode): Promise<void> {
    if (mode !== 'readWriteDurable') await this.#retire(keyOf(path, 'readWrite'));
    if (mode !== 'readWrite') await this.#retire(keyOf(path, 'readWriteDurable'));
  }

  /** Closes every idle descriptor whose path starts with `prefix` and retires the borrowed ones. */
  async retireUnder(prefix: string): Promise<void> {
    // A key starts with its path, so the keys under the prefix are those of the paths under it.
    const keys = [...this.#entries.keys(), ...this.#pending.keys()].filter((key) => key.startsWith(prefix));
    for (const key of keys) await this.#retire(key);
  }

  async #retire(key: string): Promise<void> {
    const pending = this.#pending.get(key);
    if (pending !== undefined) await pending.catch(() => undefined);
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    entry.retired = true;
    if (entry.borrowers === 0) {
      await this.#close(entry);
    } else {
      this.#entries.delete(key);
      this.#retired.add(entry);
      this.#stats.open = this.#entries.size + this.#retired.size;
    }
  }

  async #open(key: string, path: string, mode: PoolMode): Promise<Entry> {
    this.#opening++;
    try {
      const handle = await this.fileSystem.open(path, mode);
      const entry: Entry = { key, handle, borrowers: 1, retired: false };
      this.#entries.set(key, entry);
      this.#stats.opened++;
      this.#stats.open = this.#entries.size + this.#retired.size;
      if (this.#stats.open > this.#stats.openMax) this.#stats.openMax = this.#stats.open;
      return entry;
    } finally {
      this.#opening--;
    }
  }

  /** Closes the least recently used idle descriptor, or waits for one to become idle. True if room was made. */
  async #makeRoom(): Promise<boolean> {
    for (const entry of this.#entries.values()) {
      if (entry.borrowers === 0 && !entry.retired) {
        await this.#close(entry);
        return false; // re-check from the top: the world may have changed while closing
      }
    }
    this.#stats.waits++;
    await new Promise<void>((resolve) => this.#waiters.push(resolve));
    return false;
  }

  async #close(entry: Entry): Promise<void> {
    if (this.#entries.get(entry.key) === entry) this.#entries.delete(entry.key);
    else if (!this.#retired.delete(entry)) return;
    this.#stats.open = this.#entries.size + this.#retired.size;
    this.#closing++;
    try {
      await this.fileSystem.close(entry.handle);
    } finally {
      this.#closing--;
      this.#wakeOne();
    }
  }

  #wakeOne(): void {
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) waiter();
  }
}

let sharedPool: HandlePool | undefined;

/** The process-wide pool on the real file system, created on first use. */
export function sharedHandlePool(): HandlePool {
  sharedPool ??= new HandlePool();
  return sharedPool;
}
