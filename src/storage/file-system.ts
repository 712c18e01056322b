/**
 * The file-system interface every storage read and write goes through, so that tests can put a
 * faulty or crashing disk underneath (testing/crash-file-system.ts) and the real thing runs on
 * node:fs.
 *
 * Handles are plain numbers (file descriptors for the real implementation). Positions are always
 * explicit (pread/pwrite): the log knows where every byte goes, and no call depends on a shared
 * file cursor. The node implementation uses callback `fs` with raw descriptors rather than
 * `fs/promises` FileHandle objects: it allocates less per call, and the append path is hot.
 */
import * as fs from 'node:fs';

/**
 * How a file is opened. `create` makes it if missing (never truncates); `read` is read-only.
 * `readWriteDurable` (O_DSYNC) makes every write return only once its bytes (and the file size it
 * needs to read them back) are on stable storage, as a write followed by fdatasync would, in one call.
 */
export type OpenMode = 'read' | 'readWrite' | 'readWriteDurable' | 'create';

export interface FileStat {
  sizeBytes: number;
  modifiedMs: number;
  isDirectory: boolean;
}

export interface FileSystem {
  open(path: string, mode: OpenMode): Promise<number>;
  close(handle: number): Promise<void>;
  /** Reads up to `length` bytes at `position` into `buffer` at `offset`; returns bytes read (0 at end). */
  read(handle: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number>;
  /** Writes all of `buffers`, in order, starting at `position` (may throw after a partial write). */
  write(handle: number, buffers: readonly Buffer[], position: number): Promise<void>;
  fdatasync(handle: number): Promise<void>;
  truncate(handle: number, sizeBytes: number): Promise<void>;
  /** Size of an open file. */
  sizeOf(handle: number): Promise<number>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  readdir(path: string): Promise<string[]>;
  /** Creates the directory and its parents; no error if it exists. */
  mkdir(path: string): Promise<void>;
  /** Makes the directory's entries (created, renamed, removed files) durable. */
  fsyncDirectory(path: string): Promise<void>;
  /** null when nothing is at `path`. */
  stat(path: string): Promise<FileStat | null>;
  /** Removes a directory and everything below it; no error if it is missing. */
  removeTree(path: string): Promise<void>;
  /** Bytes an unprivileged process may still write on the file system holding `path`. */
  freeBytes(path: string): Promise<number>;
}

/** The error code (ENOSPC, EIO, ENOENT, …) of a file-system error, or undefined. */
export function errorCodeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

const openFlags: Record<OpenMode, number> = {
  read: fs.constants.O_RDONLY,
  readWrite: fs.constants.O_RDWR,
  readWriteDurable: fs.constants.O_RDWR | fs.constants.O_DSYNC,
  create: fs.constants.O_RDWR | fs.constants.O_CREAT,
};

function settle<T>(resolve: (value: T) => void, reject: (error: unknown) => void) {
  return (error: NodeJS.ErrnoException | null, value?: T) => (error ? reject(error) : resolve(value as T));
}

/** Writes a run of buffers with pwritev, continuing after short writes. */
function writeAll(handle: number, buffers: readonly Buffer[], position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let remaining = buffers;
    let at = position;
    const step = (error: NodeJS.ErrnoException | null, written: number) => {
      if (error) return reject(error);
      at += written;
      remaining = dropWritten(remaining, written);
      if (remaining.length === 0) return resolve();
      if (written === 0) return reject(Object.assign(new Error('write made no progress'), { code: 'EIO' }));
      fs.writev(handle, remaining as Buffer[], at, step);
    };
    if (remaining.length === 1) {
      const only = remaining[0]!;
      fs.write(handle, only, 0, only.length, at, step);
    } else {
      fs.writev(handle, remaining as Buffer[], at, step);
    }
  });
}

function dropWritten(buffers: readonly Buffer[], written: number): readonly Buffer[] {
  let index = 0;
  let bytes = written;
  while (index < buffers.length && bytes >= buffers[index]!.length) {
    bytes -= buffers[index]!.length;
    index++;
  }
  if (index === buffers.length) return [];
  const rest = buffers.slice(index);
  if (bytes > 0) rest[0] = rest[0]!.subarray(bytes);
  return rest;
}

export const nodeFileSystem: FileSystem = {
  open: (path, mode) => new Promise((resolve, reject) => fs.open(path, openFlags[mode], 0o644, settle(resolve, reject))),
  close: (handle) => new Promise((resolve, reject) => fs.close(handle, settle(resolve, reject))),
  read: (handle, buffer, offset, length, position) =>
    new Promise((resolve, reject) => fs.read(handle, buffer, offset, length, position, settle(resolve, reject))),
  write: writeAll,
  fdatasync: (handle) => new Promise((resolve, reject) => fs.fdatasync(handle, settle(resolve, reject))),
  truncate: (handle, sizeBytes) => new Promise((resolve, reject) => fs.ftruncate(handle, sizeBytes, settle(resolve, reject))),
  sizeOf: (handle) =>
    new Promise((resolve, reject) => fs.fstat(handle, (error, stats) => (error ? reject(error) : resolve(stats.size)))),
  rename: (from, to) => fs.promises.rename(from, to),
  unlink: (path) => fs.promises.unlink(path),
  readdir: (path) => fs.promises.readdir(path),
  mkdir: async (path) => {
    await fs.promises.mkdir(path, { recursive: true });
  },
  fsyncDirectory: async (path) => {
    const handle = await fs.promises.open(path, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
  stat: async (path) => {
    try {
      const stats = await fs.promises.stat(path);
      return { sizeBytes: stats.size, modifiedMs: stats.mtimeMs, isDirectory: stats.isDirectory() };
    } catch (error) {
      if (errorCodeOf(error) === 'ENOENT') return null;
      throw error;
    }
  },
  removeTree: (path) => fs.promises.rm(path, { recursive: true, force: true }),
  freeBytes: async (path) => {
    const stats = await fs.promises.statfs(path);
    return stats.bavail * stats.bsize;
  },
};

/** Reads exactly `length` bytes at `position` (fewer only at end of file); returns the bytes read. */
export async function readFully(
  fileSystem: FileSystem,
  handle: number,
  buffer: Buffer,
  length: number,
  position: number,
): Promise<number> {
  let done = 0;
  while (done < length) {
    const count = await fileSystem.read(handle, buffer, done, length - done, position + done);
    if (count === 0) break;
    done += count;
  }
  return done;
}

/** Reads a whole (small) file, or null if it is missing. */
export async function readWholeFile(fileSystem: FileSystem, path: string, bytesMax: number): Promise<Buffer | null> {
  let handle: number;
  try {
    handle = await fileSystem.open(path, 'read');
  } catch (error) {
    if (errorCodeOf(error) === 'ENOENT') return null;
    throw error;
  }
  try {
    const size = await fileSystem.sizeOf(handle);
    const buffer = Buffer.allocUnsafe(Math.min(size, bytesMax));
    const count = await readFully(fileSystem, handle, buffer, buffer.length, 0);
    return buffer.subarray(0, count);
  } finally {
    await fileSystem.close(handle);
  }
}

/**
 * Replaces a small file atomically: write `name.tmp`, rename it over `name`. With `sync` (the
 * default) the content is fdatasync'ed before the rename and the directory fsync'ed after it, so a
 * crash leaves the old or the new content; without, a crash may also leave a torn or empty file
 * (callers that skip the syncs check the content themselves, e.g. by CRC). `syncDirectory: false`
 * leaves the directory sync to a caller that renames several files in it and syncs it once.
 */
export async function writeFileAtomic(
  fileSystem: FileSystem,
  dir: string,
  name: string,
  content: Buffer,
  options: { sync: boolean; syncDirectory?: boolean } = { sync: true },
): Promise<void> {
  const temporary = `${dir}/${name}.tmp`;
  const handle = await fileSystem.open(temporary, 'create');
  try {
    await fileSystem.truncate(handle, 0);
    await fileSystem.write(handle, [content], 0);
    if (options.sync) await fileSystem.fdatasync(handle);
  } finally {
    await fileSystem.close(handle);
  }
  await fileSystem.rename(temporary, `${dir}/${name}`);
  if (options.syncDirectory ?? options.sync) await fileSystem.fsyncDirectory(dir);
}
