/**
 * Progress on stderr for long runs: rewritten in place on a terminal, one line per report
 * otherwise (when asked for with --progress).
 */
export const progressDefaults = {
  intervalMs: 1_000,
} as const;

export class Progress {
  readonly #enabled: boolean;
  readonly #inPlace: boolean;
  #timer: NodeJS.Timeout | null = null;
  #lastLength = 0;

  /** Reports when stderr is a terminal, or always with `forced`. */
  constructor(forced: boolean) {
    this.#inPlace = process.stderr.isTTY === true;
    this.#enabled = forced || this.#inPlace;
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  /** Calls `describe` every interval and shows what it returns. */
  start(describe: () => string, intervalMs: number = progressDefaults.intervalMs): void {
    if (!this.#enabled || this.#timer !== null) return;
    this.#timer = setInterval(() => this.show(describe()), intervalMs);
    this.#timer.unref();
  }

  show(text: string): void {
    if (!this.#enabled) return;
    if (this.#inPlace) {
      process.stderr.write(`\r${text.padEnd(this.#lastLength)}`);
      this.#lastLength = text.length;
    } else {
      process.stderr.write(`${text}\n`);
    }
  }

  /** Stops reporting; a final text (if any) is left on its own line. */
  stop(finalText?: string): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    if (!this.#enabled) return;
    if (finalText !== undefined) this.show(finalText);
    if (this.#inPlace && this.#lastLength > 0) process.stderr.write('\n');
    this.#lastLength = 0;
  }
}

/** `1234567` as `1,234,567`. */
export function formatCount(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}
