/**
 * Splits a byte stream into lines without decoding it: each line is a view into the chunk it came
 * from (or, for a line that spans chunks, a copy of the pieces). A trailing `\r` is dropped so
 * CRLF input works; the newline after the last line is optional.
 */
import { UsageError } from './args.js';

export const lineSplitterDefaults = {
  /** A longer line is refused rather than buffered without end. */
  lineBytesMax: 64 * 1024 * 1024,
} as const;

export class LineSplitter {
  readonly #lineBytesMax: number;
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  constructor(lineBytesMax: number = lineSplitterDefaults.lineBytesMax) {
    this.#lineBytesMax = lineBytesMax;
  }

  /** Calls `onLine` for every complete line in `chunk`. */
  push(chunk: Buffer, onLine: (line: Buffer) => void): void {
    let start = 0;
    for (let newline = chunk.indexOf(10, start); newline >= 0; newline = chunk.indexOf(10, start)) {
      let line = chunk.subarray(start, newline);
      if (this.#pendingBytes > 0) {
        line = Buffer.concat([...this.#pending, line]);
        this.#pending = [];
        this.#pendingBytes = 0;
      }
      onLine(withoutCarriageReturn(line));
      start = newline + 1;
    }
    if (start < chunk.length) {
      this.#pendingBytes += chunk.length - start;
      if (this.#pendingBytes > this.#lineBytesMax) throw new UsageError(`an input line is longer than ${this.#lineBytesMax} bytes`);
      this.#pending.push(chunk.subarray(start));
    }
  }

  /** The last line if the input did not end with a newline. */
  end(onLine: (line: Buffer) => void): void {
    if (this.#pendingBytes === 0) return;
    const line = Buffer.concat(this.#pending);
    this.#pending = [];
    this.#pendingBytes = 0;
    onLine(withoutCarriageReturn(line));
  }
}

function withoutCarriageReturn(line: Buffer): Buffer {
  return line.length > 0 && line[line.length - 1] === 13 ? line.subarray(0, line.length - 1) : line;
}
