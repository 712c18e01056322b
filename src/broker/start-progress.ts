/**
 * Progress of a broker start: how many partitions are open and how many bytes recovery has
 * validated, said every `intervalMs` while the start lasts. A start shorter than one interval
 * says nothing, and thousands of partitions make one line per interval, not one per partition.
 */
import type { Logger } from '../util/logger.js';

export const startProgressIntervalMsDefault = 5000;

const bytesPerMiB = 1024 * 1024;

export class StartProgress {
  readonly #partitionsTotal: number;
  readonly #bytesToValidate: number;
  readonly #logger: Logger;
  readonly #timer: NodeJS.Timeout;
  #partitionsOpened = 0;
  #bytesValidated = 0;

  /** `bytesToValidate` is an estimate made before the start (recovery.ts bytesToValidate). */
  constructor(options: { partitionsTotal: number; bytesToValidate: number; intervalMs: number; logger: Logger }) {
    this.#partitionsTotal = options.partitionsTotal;
    this.#bytesToValidate = options.bytesToValidate;
    this.#logger = options.logger;
    this.#timer = setInterval(() => this.#say(), options.intervalMs);
    this.#timer.unref();
  }

  get bytesValidated(): number {
    return this.#bytesValidated;
  }

  partitionOpened(): void {
    this.#partitionsOpened++;
  }

  /** Counts bytes recovery has validated; called for every batch, so it only adds. */
  readonly validated = (bytes: number): void => {
    this.#bytesValidated += bytes;
  };

  stop(): void {
    clearInterval(this.#timer);
  }

  #say(): void {
    // The estimate misses a partition whose clean-shutdown checkpoint turns out not to match its files.
    const toValidate = Math.max(this.#bytesToValidate, this.#bytesValidated);
    this.#logger('info', `starting: ${this.#partitionsOpened} of ${this.#partitionsTotal} partitions open, ${mebibytes(this.#bytesValidated)} of ${mebibytes(toValidate)} MiB validated`);
  }
}

export function mebibytes(bytes: number): string {
  return (bytes / bytesPerMiB).toFixed(1);
}
