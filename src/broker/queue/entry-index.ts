/**
 * A queue window's entries by offset. The window reads a partition forward, so its entries fill
 * a stretch of offsets with holes where settled ones were: an array over that stretch finds an
 * entry with one subtraction, where a hash map (the previous form) spent a tenth of the broker's
 * time on a drain in hashing and rehashing.
 *
 * Offsets outside the array go to a map, the spill: entries read back below the stretch (parked
 * messages returning) and entries the stretch left behind. The stretch is kept under
 * `spanMax` slots: when a straggler (a message leased for long, say) holds its start while the
 * window moves on, the oldest entries move to the spill, so memory follows the entry count and
 * not the distance between the oldest and the newest offset.
 */

/** Slots of the array at most (8 bytes each). */
const spanMaxDefault = 1 << 17;
/** A gap this large between the array's end and a new offset starts the array anew. */
const gapMaxDefault = 1 << 14;

export class EntryIndex<T> {
  readonly #spanMax: number;
  readonly #gapMax: number;
  /** Slot i holds offset `#base + i`; slots before `#head` are empty. */
  #slots: (T | undefined)[] = [];
  #base = 0;
  #head = 0;
  /** Entries in `#slots`. */
  #dense = 0;
  readonly #spill = new Map<number, T>();

  constructor(options: { spanMax?: number; gapMax?: number } = {}) {
    this.#spanMax = options.spanMax ?? spanMaxDefault;
    this.#gapMax = options.gapMax ?? gapMaxDefault;
  }

  get size(): number {
    return this.#dense + this.#spill.size;
  }

  /** Slots of the array (what its memory follows). */
  get span(): number {
    return this.#slots.length - this.#head;
  }

  get(offset: number): T | undefined {
    const i = offset - this.#base;
    if (i >= this.#head && i < this.#slots.length) {
      const entry = this.#slots[i];
      if (entry !== undefined) return entry;
    }
    return this.#spill.size === 0 ? undefined : this.#spill.get(offset);
  }

  has(offset: number): boolean {
    return this.get(offset) !== undefined;
  }

  /** Adds an entry at an offset that holds none. */
  set(offset: number, entry: T): void {
    if (this.#dense === 0) this.#restart(offset);
    let i = offset - this.#base;
    if (i < this.#head) {
      this.#spill.set(offset, entry);
      return;
    }
    const slots = this.#slots;
    if (i < slots.length) {
      if (slots[i] === undefined) this.#dense++;
      slots[i] = entry;
      return;
    }
    if (i - slots.length > this.#gapMax) {
      this.#spillFrom(slots.length);
      this.#restart(offset);
      i = 0;
    }
    const array = this.#slots;
    while (array.length < i) array.push(undefined);
    array.push(entry);
    this.#dense++;
    if (array.length - this.#head > this.#spanMax) this.#spillFrom(this.#head + (this.#spanMax >> 1));
  }

  /** Removes the entry at `offset`; false when there was none. */
  delete(offset: number): boolean {
    const i = offset - this.#base;
    const slots = this.#slots;
    if (i >= this.#head && i < slots.length && slots[i] !== undefined) {
      slots[i] = undefined;
      if (--this.#dense === 0) this.#restart(this.#base);
      else if (i === this.#head) this.#skipEmpty();
      return true;
    }
    return this.#spill.size !== 0 && this.#spill.delete(offset);
  }

  /** The lowest offset held, or null when empty. */
  lowest(): number | null {
    let lowest = this.#dense === 0 ? null : this.#base + this.#head;
    for (const offset of this.#spill.keys()) if (lowest === null || offset < lowest) lowest = offset;
    return lowest;
  }

  /** Every entry: the spill's first (in no particular order), then the array's in offset order. */
  *values(): IterableIterator<T> {
    yield* this.#spill.values();
    // Entries may be removed while this runs, and the array replaced: each is looked up again.
    const slots = this.#slots;
    const base = this.#base;
    for (let i = this.#head; i < slots.length; i++) {
      const entry = slots[i];
      if (entry !== undefined && this.get(base + i) === entry) yield entry;
    }
  }

  /** Every entry in offset order (the spill's sorted in among the array's). */
  *ascending(): IterableIterator<T> {
    const spilled = [...this.#spill.keys()].sort((a, b) => a - b);
    let s = 0;
    // Entries may be removed while this runs, and the array replaced: each is looked up again.
    const slots = this.#slots;
    const base = this.#base;
    for (let i = this.#head; i < slots.length; i++) {
      const entry = slots[i];
      if (entry === undefined || this.get(base + i) !== entry) continue;
      for (; s < spilled.length && spilled[s]! < base + i; s++) {
        const below = this.#spill.get(spilled[s]!);
        if (below !== undefined) yield below;
      }
      yield entry;
    }
    for (; s < spilled.length; s++) {
      const above = this.#spill.get(spilled[s]!);
      if (above !== undefined) yield above;
    }
  }

  /** Moves the array's entries below slot `end` to the spill. */
  #spillFrom(end: number): void {
    const slots = this.#slots;
    for (let i = this.#head; i < end && i < slots.length; i++) {
      const entry = slots[i];
      if (entry === undefined) continue;
      this.#spill.set(this.#base + i, entry);
      slots[i] = undefined;
      this.#dense--;
    }
    this.#head = Math.min(end, slots.length);
    if (this.#dense === 0) this.#restart(this.#base);
    else this.#skipEmpty();
  }

  /** An empty array whose first slot is `base`. */
  #restart(base: number): void {
    this.#slots = [];
    this.#base = base;
    this.#head = 0;
  }

  /** Moves the head past empty slots; drops the empty front once it is most of the array. */
  #skipEmpty(): void {
    const slots = this.#slots;
    let head = this.#head;
    while (head < slots.length && slots[head] === undefined) head++;
    if (head > 1024 && head * 2 > slots.length) {
      this.#slots = slots.slice(head);
      this.#base += head;
      head = 0;
    }
    this.#head = head;
  }
}
