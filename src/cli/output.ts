/**
 * Buffered stdout for commands that print many lines: text is gathered and written in chunks of
 * about `chunkBytes` (or when the event loop would otherwise wait), and `drained()` applies the
 * pipe's backpressure. A closed pipe (`weir consume ... | head`) ends the command quietly.
 */
export const outputDefaults = {
  chunkBytes: 64 * 1024,
} as const;

/** One per LineOutput in use: a command printing through one ends itself when stdout closes. */
const readerGoneListeners: (() => void)[] = [];
let stdoutWatched = false;

/**
 * Exits 0 when the reader of stdout goes away (EPIPE), as `cat` ends, unless a LineOutput is in
 * use: its command then stops on its own, after committing or acknowledging what it printed.
 * Installs the process's one handler of stdout errors (again: nothing more).
 */
export function endQuietlyWhenStdoutCloses(): void {
  if (stdoutWatched) return;
  stdoutWatched = true;
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    if (readerGoneListeners.length === 0) process.exit(0);
    for (const listener of readerGoneListeners) listener();
  });
}

/**
 * Told whether a line was handed to the operating system (true) or dropped (stdout closed), with
 * the subject given with the line (one listener can serve every line: no closure per line).
 */
export type WrittenListener<T = undefined> = (handed: boolean, subject: T) => void;

export class LineOutput {
  #pending: string[] = [];
  #pendingBytes = 0;
  /** The listeners of the pending lines that have one, and their subjects (a chunk's lines share its write's outcome). */
  #pendingListeners: WrittenListener<unknown>[] = [];
  #pendingSubjects: unknown[] = [];
  #flushScheduled = false;
  #closed = false;
  #onClosed: (() => void) | null = null;
  #drainWaiters: (() => void)[] = [];
  /** Writes whose callback has not come yet. */
  #writesInFlight = 0;
  #writtenWaiters: (() => void)[] = [];

  constructor() {
    endQuietlyWhenStdoutCloses();
    readerGoneListeners.push(() => {
      this.#closed = true;
      this.#pending = [];
      this.#pendingBytes = 0;
      const subjects = this.#pendingSubjects.splice(0);
      this.#pendingListeners.splice(0).forEach((listener, i) => listener(false, subjects[i]));
      for (const wake of this.#drainWaiters.splice(0)) wake();
      this.#onClosed?.();
    });
  }

  /** True once the reader of stdout went away. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Calls `listener` once when the reader of stdout goes away. */
  onClosed(listener: () => void): void {
    this.#onClosed = listener;
  }

  /**
   * Queues one line (without its newline). `written`, if given, is told once the write that carries
   * the line has completed: true when the operating system took it (the reader may still never
   * read it from the pipe), false when stdout closed first (EPIPE) and the line is lost; and
   * `subject`.
   */
  line<T>(text: string, written?: WrittenListener<T>, subject?: T): void {
    if (this.#closed) {
      written?.(false, subject as T);
      return;
    }
    if (written !== undefined) {
      this.#pendingListeners.push(written as WrittenListener<unknown>);
      this.#pendingSubjects.push(subject);
    }
    this.#pending.push(text);
    this.#pendingBytes += text.length + 1;
    if (this.#pendingBytes >= outputDefaults.chunkBytes) this.flush();
    else if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.#flushScheduled = false;
    if (this.#pending.length === 0 || this.#closed) return;
    const text = `${this.#pending.join('\n')}\n`;
    const listeners = this.#pendingListeners;
    const subjects = this.#pendingSubjects;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#pendingListeners = [];
    this.#pendingSubjects = [];
    this.#writesInFlight++;
    process.stdout.write(text, (error) => {
      const handed = error === null || error === undefined;
      for (let i = 0; i < listeners.length; i++) listeners[i]!(handed, subjects[i]);
      if (--this.#writesInFlight === 0) for (const wake of this.#writtenWaiters.splice(0)) wake();
    });
  }

  /** Resolves once every write so far has completed (taken by the operating system, or failed). */
  written(): Promise<void> {
    if (this.#writesInFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#writtenWaiters.push(resolve));
  }

  /** Resolves when stdout can take more (at once unless the pipe is full). */
  drained(): Promise<void> {
    if (!process.stdout.writableNeedDrain || this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        process.stdout.removeListener('drain', wake);
        this.#drainWaiters = this.#drainWaiters.filter((waiter) => waiter !== wake);
        resolve();
      };
      this.#drainWaiters.push(wake);
      process.stdout.once('drain', wake);
    });
  }

  /** Flushes and waits until every write has completed (handed to the operating system, or failed). */
  async end(): Promise<void> {
    this.flush();
    await this.drained();
    await this.written();
  }
}
