/**
 * One partition of a queue subscription: the window of messages read from the partition log and
 * not yet settled, in offset order, with the queues that say which of them may be delivered next.
 *
 * Offsets below `floor` are settled. Between `floor` and `readTo` every offset is settled except
 * the entries in `entries`. At and above `readTo` the log has not been read yet; what recovery
 * learned about those offsets (settled ones, failed deliveries) waits in `#recovered` until the
 * window reaches them.
 *
 * Parked messages: a message scheduled far ahead need not hold a window slot. When the window is
 * full, scheduled messages due later than `parkLeadMs` leave it for `parked` (offset, delivery
 * count, due time: no record bytes), and are read from the log again shortly before they are due.
 * Parked messages are unsettled like the window's: they count in the backlog, the floor and the
 * checkpoints.
 *
 * Memory: every log read the window makes is held in the broker-wide window memory (a
 * SharedByteBudget shared by every queue window, `windowMemoryDefaults`) from before the read until
 * the last entry made from it leaves the window (entries are slices of the read, so its buffer
 * lives as long as any of them). The subscription reads ahead only while that memory has room; a
 * partition with less than `grantBytesMin` of messages ready for its consumers reads anyway, a
 * smaller read (at least `grantBytesMin`), so every subscription makes progress however many
 * share the memory.
 *
 * Key-ordered mode: the earliest unsettled message of a key holds the key; later messages of the
 * key wait (state `blocked`) until it is settled, so one key is never in flight twice and its
 * messages are delivered in order.
 */
import { RecordCursor, batchCompression, batchPositions, batchRecordSection, decodeRecords, decompressedBytesMax, readBatchHeader, type DecodedRecord } from '../../format/record-batch.js';
import type { Partition } from '../partition.js';
import type { SharedByteBudget } from '../../util/byte-budget.js';
import { queueHeaders, type QueueDeliveredMessage, type QueueDelivery } from '../types.js';
import { EntryIndex } from './entry-index.js';

/** `storing`: the message's last delivery is being recorded before it is handed out. */
export type EntryState = 'ready' | 'leased' | 'scheduled' | 'blocked' | 'settling' | 'parked' | 'storing';

/**
 * One log read held by a window: its bytes (the buffer read, decompressed sections, and the
 * entries' own objects) stay held in the window memory until the last entry made from it leaves.
 */
class WindowRead {
  /** Entries made from this read still in the window. */
  entries = 0;
  /** Held in the window memory. */
  bytes = 0;
  /** Record sections decompressed from the read's batches (entries of compressed batches point into these). */
  decompressedBytes = 0;
}

/** A stored batch's record section as the window read it; entries point into it. */
export interface LoadedBatch {
  readonly section: Buffer;
  readonly baseOffset: bigint;
  readonly baseTimestamp: number;
  readonly read: WindowRead;
}

export interface QueueEntry {
  readonly partition: QueuePartition;
  /** The message's offset (a number: offsets stay below 2^53). */
  readonly offset: number;
  /** The message is `batch.section[start, end)`, as stored (see QueueDelivery). */
  readonly batch: LoadedBatch;
  readonly start: number;
  readonly end: number;
  /** The message's share of its batch's bytes. */
  readonly bytes: number;
  readonly key: string | null;
  readonly timestampMs: number;
  readonly expiresAtMs: number;
  deliveryCount: number;
  /** A delivery count stored ahead of the delivery that reaches it (the last one); 0: none. */
  deliveriesStored: number;
  /** The last delivery was given back unseen (release): the next one, at the same count, is no redelivery. */
  released: boolean;
  /**
   * Releases of this message since it entered the window: its leases carry the subscription's
   * lease epoch advanced by this many steps, so that the receipt of a released lease (whose
   * delivery count the next lease repeats) settles nothing.
   */
  releases: number;
  state: EntryState;
  /** When a scheduled entry becomes ready. */
  dueAtMs: number;
  leaseDeadlineMs: number;
  /** The consumer holding the lease. */
  holder: object | null;
  /** Marks the lease's place in its holder's LeaseList (0: none). */
  leaseStamp: number;
}

/**
 * A QueueEntry as the window creates it: a class, so that every entry has one shape from the
 * start (an object literal's fields change representation as leases set them, and each change
 * throws away the optimized code of the window's hot paths).
 */
class WindowEntry implements QueueEntry {
  state: EntryState = 'ready';
  deliveriesStored = 0;
  released = false;
  releases = 0;
  leaseDeadlineMs = 0;
  holder: object | null = null;
  leaseStamp = 0;

  constructor(
    readonly partition: QueuePartition,
    readonly offset: number,
    readonly batch: LoadedBatch,
    readonly start: number,
    readonly end: number,
    readonly bytes: number,
    readonly key: string | null,
    readonly timestampMs: number,
    readonly expiresAtMs: number,
    public deliveryCount: number,
    public dueAtMs: number,
  ) {}
}

/** A delivery's messages, decoded (the HTTP front end and tests read them this way). */
export function queueDeliveryMessages(delivery: QueueDelivery): QueueDeliveredMessage[] {
  return decodeRecords(delivery.records, delivery.baseOffset, delivery.baseTimestampMs).map((record) => ({
    offset: record.offset,
    deliveryCount: delivery.deliveryCount,
    timestampMs: record.timestamp,
    key: record.key,
    value: record.value,
    headers: record.headers,
  }));
}

/** The entry's record, decoded (for dead letters; deliveries pass the stored bytes on). */
export function entryRecord(entry: QueueEntry): DecodedRecord {
  const [record] = decodeRecords(entry.batch.section.subarray(entry.start, entry.end), entry.batch.baseOffset, entry.batch.baseTimestamp);
  return record!;
}

/** A message parked outside the window until shortly before it is due. */
export interface ParkedEntry {
  readonly offset: number;
  readonly deliveryCount: number;
  readonly dueAtMs: number;
  readonly timestampMs: number;
  readonly bytes: number;
}

/** What recovery knows about offsets the window has not reached again. */
export interface RecoveredOffsets {
  /** Below this, an offset is settled unless listed in `unsettled`; above, nothing is known. */
  scanEnd: bigint;
  unsettled: Map<bigint, { deliveryCount: number; dueAtMs: number }>;
}

/** Bytes read from the log per window refill, at most and at least (see `load`). */
const loadReadBytes = 1024 * 1024;
const loadReadBytesMin = 64 * 1024;
/**
 * A window reads ahead while its entries hold fewer bytes than this (it still reads when nothing
 * is ready), so that large messages do not fill the memory its message count allows.
 */
export const windowReadAheadBytesMax = 4 * 1024 * 1024;
/**
 * The broker-wide memory of every queue window's reads (a SharedByteBudget): windows read ahead
 * only while it has room, and a partition with less than `grantBytesMin` ready for its consumers
 * reads at least that much whatever it holds. docs/queues.md (Limits) says what this bounds.
 */
export const windowMemoryDefaults = {
  bytesMax: 64 * 1024 * 1024,
  grantBytesMin: loadReadBytesMin,
} as const;
/** What an entry's own objects take, counted with its read (an estimate: the entry, its slot, a queue's). */
const entryOverheadBytes = 160;

/** A FIFO of entries with O(1) push and shift. */
class EntryQueue {
  #items: (QueueEntry | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(entry: QueueEntry): void {
    this.#items.push(entry);
  }

  shift(): QueueEntry | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const entry = this.#items[this.#head];
    // The slot lets go of the entry: it would keep the entry's log read in memory after it left the window.
    this.#items[this.#head++] = undefined;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return entry;
  }
}

export class QueuePartition {
  readonly index: number;
  readonly source: Partition;
  readonly keyOrdered: boolean;
  readTo: bigint;
  /** Unsettled messages in the window by offset (as a number; offsets stay below 2^53). */
  readonly entries = new EntryIndex<QueueEntry>();
  /** Never-delivered ready entries, in offset order. */
  readonly fresh = new EntryQueue();
  /** Entries ready again after a failed delivery; served before fresh ones. */
  readonly retry = new EntryQueue();
  /** Estimated bytes of the log at and above `readTo`. */
  unreadBytes: number;
  /** Messages parked outside the window by offset (see the file comment). */
  readonly parked = new Map<number, ParkedEntry>();
  /** Bytes of the entries in `entries`, and of the parked messages. */
  entryBytes = 0;
  parkedBytes = 0;
  /** Entries whose dead letter is being written: still in `entries`, no longer in the backlog. */
  letteringMessages = 0;
  letteringBytes = 0;
  /** Bytes per message of the last batch loaded (sizes the next read to the window's room). */
  #bytesPerMessage = 0;
  /** A full window found nothing to park: do not look again before this. */
  parkScanAfterMs = 0;
  loading = false;
  /** A wait for the high watermark to pass `readTo` is parked. */
  waiting = false;
  #recovered: RecoveredOffsets | null;
  readonly #keyHolders = new Map<string, number>();
  readonly #keyWaiting = new Map<string, QueueEntry[]>();
  readonly #memory: SharedByteBudget;
  /** Bytes this window holds in `#memory` (reads under way and reads entries point into). */
  #memoryBytes = 0;
  #closed = false;

  constructor(source: Partition, options: { index: number; keyOrdered: boolean; floor: bigint; recovered: RecoveredOffsets | null; memory: SharedByteBudget }) {
    const { index, keyOrdered, floor, recovered } = options;
    this.index = index;
    this.source = source;
    this.keyOrdered = keyOrdered;
    this.readTo = floor;
    this.#recovered = recovered;
    this.#memory = options.memory;
    const log = source.log;
    const span = log.offsetEnd - log.offsetStart;
    const unread = log.offsetEnd > floor ? log.offsetEnd - (floor > log.offsetStart ? floor : log.offsetStart) : 0n;
    this.unreadBytes = span > 0n ? Math.round((log.sizeBytes * Number(unread)) / Number(span)) : 0;
  }

  /**
   * Messages not yet settled: the window's plus the unread ones still in the log (retention may
   * have deleted some the window never read), less those known settled.
   */
  get backlogMessages(): number {
    const log = this.source.log;
    const from = this.readTo > log.offsetStart ? this.readTo : log.offsetStart;
    const unread = log.offsetEnd > from ? Number(log.offsetEnd - from) : 0;
    const recovered = this.#recovered;
    let settledAhead = 0;
    if (recovered !== null && recovered.scanEnd > from) {
      let unsettled = recovered.unsettled.size;
      if (from > this.readTo) for (const offset of recovered.unsettled.keys()) if (offset < from) unsettled--;
      settledAhead = Number(recovered.scanEnd - from) - unsettled;
    }
    return Math.max(0, unread - settledAhead) + this.entries.size - this.letteringMessages + this.parked.size;
  }

  /**
   * Bytes of the backlog of `messages` (backlogMessages, when the caller has it). Those of unread
   * messages are an estimate after a restart, and drop to what the log holds when retention
   * deletes some; an empty backlog resets the estimate.
   */
  backlogBytes(messages = this.backlogMessages): number {
    if (messages === 0) this.unreadBytes = 0;
    else if (this.unreadBytes > this.source.log.sizeBytes) this.unreadBytes = this.source.log.sizeBytes;
    return this.entryBytes - this.letteringBytes + this.parkedBytes + this.unreadBytes;
  }

  /** Recovery information the window has not consumed yet (for checkpoints). */
  get recovered(): RecoveredOffsets | null {
    return this.#recovered;
  }

  /** Every offset below is settled. Computed when asked (a settlement does not move it). */
  get floor(): bigint {
    let floor = this.entries.lowest() ?? Number(this.readTo);
    for (const offset of this.parked.keys()) if (offset < floor) floor = offset;
    return BigInt(floor);
  }

  /** Reads the next stretch of the log into the window; returns the new entries in offset order. */
  async load(windowMessagesMax: number): Promise<QueueEntry[]> {
    const log = this.source.log;
    if (this.readTo < log.offsetStart) {
      this.readTo = log.offsetStart; // retention deleted messages this subscription never read
    }
    if (this.readTo >= log.highWatermark || this.entries.size >= windowMessagesMax) return [];
    // Read about what fits (a read from the tail cache is a copy; more would be dropped).
    const fits = Math.min((windowMessagesMax - this.entries.size) * this.#bytesPerMessage, windowReadAheadBytesMax - this.entryBytes);
    const wantedBytes = this.#bytesPerMessage === 0 ? loadReadBytes : Math.min(loadReadBytes, Math.max(loadReadBytesMin, fits));
    const done = await this.#read(this.readTo, wantedBytes);
    if (done === null) return [];
    const { read, bytes } = done;
    const loaded: QueueEntry[] = [];
    try {
      this.#takeRead(bytes, read, windowMessagesMax, loaded);
    } finally {
      this.#held(read, loaded.length, bytes.buffer.byteLength);
    }
    return loaded;
  }

  /** Makes the entries of a read (into `loaded`). */
  #takeRead(bytes: Buffer, read: WindowRead, windowMessagesMax: number, loaded: QueueEntry[]): void {
    for (const { position, bytes: batchBytes } of batchPositions(bytes)) {
      const header = readBatchHeader(bytes, position);
      const lastOffset = header.baseOffset + BigInt(header.lastOffsetDelta);
      if (lastOffset < this.readTo) continue;
      const share = Math.max(1, Math.round(batchBytes / Math.max(1, header.recordCount)));
      this.#bytesPerMessage = share;
      const batch = loadedBatch(bytes, position, header, read);
      let readTo = Number(this.readTo);
      const cursor = new RecordCursor(batch.section);
      while (cursor.next()) {
        const offset = Number(header.baseOffset) + cursor.offsetDelta;
        if (offset < readTo) continue;
        readTo = offset + 1;
        this.unreadBytes = Math.max(0, this.unreadBytes - share);
        const recovered = this.#recovered === null ? null : this.#takeRecovered(BigInt(offset));
        if (recovered === 'settled') continue;
        const entry = this.#entry(batch, cursor, offset, share, recovered?.deliveryCount ?? 0, recovered?.dueAtMs ?? 0);
        this.entries.set(offset, entry);
        this.entryBytes += share;
        loaded.push(entry);
      }
      this.readTo = BigInt(readTo);
      if (this.entries.size >= windowMessagesMax) break;
    }
  }

  // --- memory --------------------------------------------------------------------------------

  /** Bytes per message of the last batch read (0 before the first read). */
  get bytesPerMessage(): number {
    return this.#bytesPerMessage;
  }

  /**
   * Reads from `offset` what the window memory grants of `bytesMax` (fewer bytes when it is short,
   * at least its grantBytesMin), held there from now on; null when the window closed meanwhile.
   */
  async #read(offset: bigint, bytesMax: number): Promise<{ read: WindowRead; bytes: Buffer } | null> {
    const read = new WindowRead();
    read.bytes = this.#memory.grant(bytesMax);
    this.#memoryBytes += read.bytes;
    let bytes: Buffer;
    try {
      bytes = await this.source.log.read(offset, read.bytes);
    } catch (error) {
      this.#releaseRead(read);
      throw error;
    }
    return this.#closed ? null : { read, bytes };
  }

  /**
   * The read came back and made `entries` entries: from now on it holds what it keeps in memory
   * (`bytes`: the whole allocation its buffer is a view of; the sections decompressed from it; the
   * entries), or nothing when it made no entries.
   */
  #held(read: WindowRead, entries: number, bytes: number): void {
    if (this.#closed) return;
    read.entries += entries;
    this.#resize(read, read.entries === 0 ? 0 : bytes + read.decompressedBytes + entries * entryOverheadBytes);
  }

  #resize(read: WindowRead, bytes: number): void {
    if (bytes > read.bytes) this.#memory.hold(bytes - read.bytes);
    else if (bytes < read.bytes) this.#memory.release(read.bytes - bytes);
    this.#memoryBytes += bytes - read.bytes;
    read.bytes = bytes;
  }

  #releaseRead(read: WindowRead): void {
    if (!this.#closed) this.#resize(read, 0);
  }

  /** An entry left the window: its read's bytes are released with its last entry. */
  #left(entry: QueueEntry): void {
    const read = entry.batch.read;
    read.entries--;
    if (read.entries === 0) this.#releaseRead(read);
  }

  /** The subscription is gone (or the broker stops): everything this window holds is released. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#memory.release(this.#memoryBytes);
    this.#memoryBytes = 0;
  }

  /** The window entry of the record under `cursor`. */
  #entry(batch: LoadedBatch, cursor: RecordCursor, offset: number, share: number, deliveryCount: number, dueAtMs: number): QueueEntry {
    let deliverAtMs = 0;
    let expiresAtMs = Number.POSITIVE_INFINITY;
    if (cursor.headerCount > 0) {
      for (const h of cursor.headers()) {
        if (h.key === queueHeaders.deliverAt) deliverAtMs = headerMs(h.value) ?? 0;
        else if (h.key === queueHeaders.expiresAt) expiresAtMs = headerMs(h.value) ?? expiresAtMs;
      }
    }
    const key = this.keyOrdered && cursor.keyLength >= 0 ? batch.section.toString('latin1', cursor.keyStart, cursor.keyStart + cursor.keyLength) : null;
    return new WindowEntry(this, offset, batch, cursor.start, cursor.end, share, key, batch.baseTimestamp + cursor.timestampDelta, expiresAtMs, deliveryCount, Math.max(deliverAtMs, dueAtMs));
  }

  /** A settled entry leaves the window. */
  remove(entry: QueueEntry): void {
    if (!this.entries.delete(entry.offset)) return;
    this.entryBytes -= entry.bytes;
    this.#left(entry);
  }

  // --- parking -------------------------------------------------------------------------------

  /**
   * A scheduled entry leaves the window (its bytes now count as parked). Its `releases` may be
   * forgotten: a scheduled message's last lease failed, so its count is the highest any of its
   * receipts carries, and its next lease raises it past them all.
   */
  park(entry: QueueEntry): void {
    if (this.entries.delete(entry.offset)) this.#left(entry);
    this.entryBytes -= entry.bytes;
    this.parkedBytes += entry.bytes;
    entry.state = 'parked';
    const { offset, deliveryCount, dueAtMs, timestampMs, bytes } = entry;
    this.parked.set(offset, { offset, deliveryCount, dueAtMs, timestampMs, bytes });
  }

  /**
   * Reads parked messages (offsets ascending) back into the window; returns their entries.
   * Messages that retention deleted meanwhile are forgotten.
   */
  async unpark(offsets: number[]): Promise<QueueEntry[]> {
    const log = this.source.log;
    const entries: QueueEntry[] = [];
    let i = 0;
    while (i < offsets.length) {
      if (offsets[i]! < Number(log.offsetStart)) {
        this.#forgetParked(offsets[i++]!);
        continue;
      }
      const done = await this.#read(BigInt(offsets[i]!), loadReadBytes);
      if (done === null) return [];
      const from = i;
      const made = entries.length;
      try {
        i = this.#takeParked(done.bytes, done.read, offsets, i, entries);
      } finally {
        this.#held(done.read, entries.length - made, done.bytes.buffer.byteLength);
      }
      if (i === from) this.#forgetParked(offsets[i++]!); // nothing at that offset: not a record
    }
    return entries;
  }

  /** Makes the entries of the parked `offsets` from `i` on that a read holds (into `entries`); returns the next `i`. */
  #takeParked(bytes: Buffer, read: WindowRead, offsets: number[], i: number, entries: QueueEntry[]): number {
    for (const { position } of batchPositions(bytes)) {
      const header = readBatchHeader(bytes, position);
      if (i >= offsets.length) break;
      if (header.baseOffset + BigInt(header.lastOffsetDelta) < BigInt(offsets[i]!)) continue;
      const batch = loadedBatch(bytes, position, header, read);
      const cursor = new RecordCursor(batch.section);
      while (i < offsets.length && cursor.next()) {
        const offset = Number(header.baseOffset) + cursor.offsetDelta;
        while (i < offsets.length && offsets[i]! < offset) this.#forgetParked(offsets[i++]!); // no such record
        if (offsets[i] !== offset) continue;
        i++;
        const parked = this.parked.get(offset);
        if (parked === undefined) continue; // settled meanwhile (a deleted subscription)
        this.parked.delete(offset);
        const entry = this.#entry(batch, cursor, offset, parked.bytes, parked.deliveryCount, parked.dueAtMs);
        this.entries.set(offset, entry);
        this.parkedBytes -= parked.bytes;
        this.entryBytes += parked.bytes;
        entries.push(entry);
      }
    }
    return i;
  }

  #forgetParked(offset: number): void {
    const parked = this.parked.get(offset);
    if (parked === undefined) return;
    this.parked.delete(offset);
    this.parkedBytes -= parked.bytes;
  }

  #takeRecovered(offset: bigint): 'settled' | { deliveryCount: number; dueAtMs: number } | null {
    const recovered = this.#recovered;
    if (recovered === null) return null;
    let result: 'settled' | { deliveryCount: number; dueAtMs: number } | null = null;
    if (offset < recovered.scanEnd) {
      const unsettled = recovered.unsettled.get(offset);
      if (unsettled === undefined) result = 'settled';
      else {
        recovered.unsettled.delete(offset);
        result = unsettled;
      }
    }
    if (offset + 1n >= recovered.scanEnd) this.#recovered = null;
    return result;
  }

  // --- key-ordered mode ----------------------------------------------------------------------

  /** True when the entry may go ahead; otherwise it waits behind its key's holder. */
  takeKey(entry: QueueEntry): boolean {
    if (entry.key === null) return true;
    const holder = this.#keyHolders.get(entry.key);
    if (holder === undefined || holder === entry.offset) {
      this.#keyHolders.set(entry.key, entry.offset);
      return true;
    }
    let waiting = this.#keyWaiting.get(entry.key);
    if (waiting === undefined) this.#keyWaiting.set(entry.key, (waiting = []));
    waiting.push(entry);
    entry.state = 'blocked';
    return false;
  }

  /**
   * A blocked entry leaves its key's line without being delivered (drop-oldest discarded it), so
   * that the key never passes to it.
   */
  leaveKeyLine(entry: QueueEntry): void {
    if (entry.state !== 'blocked' || entry.key === null) return;
    const waiting = this.#keyWaiting.get(entry.key);
    if (waiting === undefined) return;
    // The oldest go first, so the entry is usually at the front of its line.
    const index = waiting[0] === entry ? 0 : waiting.indexOf(entry);
    if (index < 0) return;
    if (index === 0) waiting.shift();
    else waiting.splice(index, 1);
    if (waiting.length === 0) this.#keyWaiting.delete(entry.key);
  }

  /** The entry was settled: its key passes to the next waiting message, which is returned. */
  releaseKey(entry: QueueEntry): QueueEntry | undefined {
    if (entry.key === null || this.#keyHolders.get(entry.key) !== entry.offset) return undefined;
    const waiting = this.#keyWaiting.get(entry.key);
    const next = waiting?.shift();
    if (next === undefined) {
      this.#keyHolders.delete(entry.key);
      return undefined;
    }
    if (waiting!.length === 0) this.#keyWaiting.delete(entry.key);
    this.#keyHolders.set(entry.key, next.offset);
    return next;
  }
}

/** The stored batch at `position` of `bytes` as the window keeps it. */
function loadedBatch(bytes: Buffer, position: number, header: ReturnType<typeof readBatchHeader>, read: WindowRead): LoadedBatch {
  const section = batchRecordSection(bytes, position, header, decompressedBytesMax);
  if (batchCompression(header.attributes) !== 0) read.decompressedBytes += section.length;
  return {
    section,
    baseOffset: header.baseOffset,
    baseTimestamp: header.baseTimestamp,
    read,
  };
}

function headerMs(value: Buffer | null): number | null {
  if (value === null || value.length === 0 || value.length > 16) return null;
  const ms = Number(value.toString('latin1'));
  return Number.isFinite(ms) ? ms : null;
}
