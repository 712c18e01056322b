/**
 * Idempotent producers: per partition, the epoch and the most recent batches of each producer id,
 * so that a batch retried after a lost acknowledgement or a reconnect is recognised and not stored
 * twice, and a batch that skips sequence numbers is refused.
 *
 * Checked and updated synchronously before the append is queued, so the partition's serial append
 * order and the sequence order agree. Persisted by snapshots (see Partition) and rebuilt from the
 * batch headers in the log after the snapshot's offset.
 *
 * A producer id that sent nothing to the partition for the broker's `producerIdleMsMax` is
 * forgotten (`expire`), as Kafka forgets one after `producer.id.expiration.ms`: clients that take
 * a new producer id per process would otherwise grow the state without end. An id the partition
 * does not know starts afresh at whatever sequence its batch carries, as in Kafka, so a producer
 * idle that long goes on without an error; only a retry sent that long after its original could
 * be stored twice, far past any client's delivery timeout.
 */
import { WeirError } from '../util/errors.js';

/**
 * A producer may have this many unacknowledged batches per partition: the broker remembers that
 * many to recognise retries. Kafka clients keep at most 5 in flight; Weir's client keeps up to 10 (the
 * second five only for big batches), which pipelines large messages better through fdatasync.
 */
export const producerBatchesRemembered = 10;
/** Producers remembered per partition; the least recently used beyond this are forgotten. */
export const producersPerPartitionMax = 10_000;

export interface BatchIdentity {
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
}

interface RememberedBatch {
  sequenceFirst: number;
  sequenceLast: number;
  offsetBase: bigint;
}

interface ProducerEntry {
  epoch: number;
  batches: RememberedBatch[]; // oldest first
  /** When the partition last took a batch of this producer (ms since the epoch). */
  seenMs: number;
}

export type SequenceVerdict = { kind: 'append' } | { kind: 'duplicate'; offsetBase: bigint };

const sequenceModulus = 2 ** 31;

function nextSequence(sequence: number, count: number): number {
  return (sequence + count) % sequenceModulus;
}

export class ProducerState {
  readonly #producers = new Map<bigint, ProducerEntry>();

  get size(): number {
    return this.#producers.size;
  }

  /** The highest producer id the state knows of, or -1. */
  get producerIdMax(): bigint {
    let max = -1n;
    for (const id of this.#producers.keys()) if (id > max) max = id;
    return max;
  }

  /**
   * Decides what to do with a batch. Throws PRODUCER_FENCED for an older epoch and
   * OUT_OF_ORDER_SEQUENCE for a gap; returns `duplicate` for a batch already stored.
   */
  check(batch: BatchIdentity): SequenceVerdict {
    if (batch.producerId < 0n) return { kind: 'append' };
    const entry = this.#producers.get(batch.producerId);
    if (entry === undefined) return { kind: 'append' };
    if (batch.producerEpoch < entry.epoch) {
      throw new WeirError(
        'PRODUCER_FENCED',
        `producer ${batch.producerId} epoch ${batch.producerEpoch} is older than the current epoch ${entry.epoch}`,
      );
    }
    if (batch.producerEpoch > entry.epoch) {
      if (batch.baseSequence !== 0) {
        throw new WeirError(
          'OUT_OF_ORDER_SEQUENCE',
          `producer ${batch.producerId} started epoch ${batch.producerEpoch} at sequence ${batch.baseSequence}, expected 0`,
        );
      }
      return { kind: 'append' };
    }
    const sequenceLast = nextSequence(batch.baseSequence, batch.recordCount - 1);
    for (const known of entry.batches) {
      if (known.sequenceFirst === batch.baseSequence && known.sequenceLast === sequenceLast) {
        return { kind: 'duplicate', offsetBase: known.offsetBase };
      }
    }
    const last = entry.batches[entry.batches.length - 1];
    if (last !== undefined && batch.baseSequence !== nextSequence(last.sequenceLast, 1)) {
      throw new WeirError(
        'OUT_OF_ORDER_SEQUENCE',
        `producer ${batch.producerId}: batch starts at sequence ${batch.baseSequence}, expected ${nextSequence(last.sequenceLast, 1)}`,
      );
    }
    return { kind: 'append' };
  }

  /** Records a batch that was (or is about to be) appended at `offsetBase`, at `seenMs`. */
  record(batch: BatchIdentity, offsetBase: bigint, seenMs: number): void {
    if (batch.producerId < 0n) return;
    let entry = this.#producers.get(batch.producerId);
    if (entry === undefined || batch.producerEpoch > entry.epoch) {
      entry = { epoch: batch.producerEpoch, batches: [], seenMs };
    } else {
      this.#producers.delete(batch.producerId); // re-inserted below: Map order is recency
      entry.seenMs = Math.max(entry.seenMs, seenMs);
    }
    entry.batches.push({
      sequenceFirst: batch.baseSequence,
      sequenceLast: nextSequence(batch.baseSequence, batch.recordCount - 1),
      offsetBase,
    });
    if (entry.batches.length > producerBatchesRemembered) entry.batches.shift();
    this.#producers.set(batch.producerId, entry);
    if (this.#producers.size > producersPerPartitionMax) {
      const oldest = this.#producers.keys().next().value as bigint;
      this.#producers.delete(oldest);
    }
  }

  /**
   * Forgets the producers last seen before `seenMsMin`; returns how many. Map order is recency,
   * so the walk stops at the first producer seen since (a step back of the clock only delays the
   * ones behind it); `everyEntry` walks them all, for a state loaded from a snapshot and the log,
   * whose order follows the log rather than the times.
   */
  expire(seenMsMin: number, options: { everyEntry?: boolean } = {}): number {
    let count = 0;
    for (const [id, entry] of this.#producers) {
      if (entry.seenMs >= seenMsMin) {
        if (options.everyEntry === true) continue;
        break;
      }
      this.#producers.delete(id);
      count++;
    }
    return count;
  }

  /**
   * The state as of `offsetEnd`: batches stored at or past it are left out (they may not be
   * durable yet; loading replays them from the log, where they survived a crash).
   */
  toJSON(offsetEnd: bigint): unknown {
    const out = [];
    for (const [id, entry] of this.#producers) {
      const batches = entry.batches.filter((b) => b.offsetBase < offsetEnd);
      if (batches.length === 0 && entry.batches.length > 0) continue;
      out.push({ id: id.toString(), epoch: entry.epoch, seenMs: entry.seenMs, batches: batches.map((b) => [b.sequenceFirst, b.sequenceLast, b.offsetBase.toString()]) });
    }
    return out;
  }

  /** Forgets the batch recorded at `offsetBase` (its append failed: a retry must be appended, not answered as stored). */
  forget(producerId: bigint, offsetBase: bigint): void {
    const entry = this.#producers.get(producerId);
    if (entry === undefined) return;
    entry.batches = entry.batches.filter((b) => b.offsetBase !== offsetBase);
    if (entry.batches.length === 0) this.#producers.delete(producerId);
  }

  /** `seenMsDefault` stands for the time of a producer a snapshot from before `seenMs` holds. */
  static fromJSON(json: unknown, seenMsDefault: number): ProducerState {
    const state = new ProducerState();
    if (!Array.isArray(json)) return state;
    const items = json as { id: string; epoch: number; seenMs?: number; batches: [number, number, string][] }[];
    for (const item of items.sort((a, b) => (a.seenMs ?? seenMsDefault) - (b.seenMs ?? seenMsDefault))) {
      state.#producers.set(BigInt(item.id), {
        epoch: item.epoch,
        seenMs: item.seenMs ?? seenMsDefault,
        batches: item.batches.map(([first, last, offset]) => ({ sequenceFirst: first, sequenceLast: last, offsetBase: BigInt(offset) })),
      });
    }
    return state;
  }
}
