/**
 * A bounded, process-wide cache of the indexes of inactive segments. A sealed segment's offset and
 * time index are loaded on first use and dropped, least recently used first, once the loaded
 * indexes of all logs together exceed `memoryBytesMax`. Active segments keep their indexes in
 * memory outside this cache (they grow with every append).
 */

export const indexCacheBytesMaxDefault = 64 * 1024 * 1024;

export interface Evictable {
  /** Drops the loaded indexes; they are loaded again on next use. */
  dropIndexes(): void;
}

export class IndexCache {
  readonly memoryBytesMax: number;
  #entries = new Map<Evictable, number>();
  #memoryBytes = 0;

  constructor(options: { memoryBytesMax?: number } = {}) {
    this.memoryBytesMax = options.memoryBytesMax ?? indexCacheBytesMaxDefault;
  }

  get memoryBytes(): number {
    return this.#memoryBytes;
  }

  get count(): number {
    return this.#entries.size;
  }

  /** Records that `owner` holds `memoryBytes` of loaded index (or uses it again), evicting others as needed. */
  touch(owner: Evictable, memoryBytes: number): void {
    const previous = this.#entries.get(owner);
    if (previous !== undefined) {
      this.#entries.delete(owner);
      this.#memoryBytes -= previous;
    }
    this.#entries.set(owner, memoryBytes);
    this.#memoryBytes += memoryBytes;
    for (const [candidate, bytes] of this.#entries) {
      if (this.#memoryBytes <= this.memoryBytesMax || candidate === owner) break;
      this.#entries.delete(candidate);
      this.#memoryBytes -= bytes;
      candidate.dropIndexes();
    }
  }

  /** Forgets `owner` (its segment was deleted, or became the active one, or the log closed). */
  remove(owner: Evictable): void {
    const bytes = this.#entries.get(owner);
    if (bytes === undefined) return;
    this.#entries.delete(owner);
    this.#memoryBytes -= bytes;
  }
}

let sharedCache: IndexCache | undefined;

export function sharedIndexCache(): IndexCache {
  sharedCache ??= new IndexCache();
  return sharedCache;
}
