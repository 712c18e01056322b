/**
 * The credits of one connection's push queue consumers, passed on to the broker as fetch memory
 * allows. A client grants credits (one per message, up to queueCreditsMax per consumer as the
 * broker counts them); the connection keeps them and passes on to the broker
 * (QueueConsumer.grant) only as many as the room left in fetch memory covers at the consumer's
 * message size seen so far, or as fill fetchMemory.grantBytesMin while the connection holds less
 * (at least one message, however large), so no connection starves however full fetch memory is.
 * Each delivery holds its size in fetch memory from its write until the kernel has taken it (the
 * connection's HeldAnswers); as those are released, and when the socket drains, more credits are
 * passed on. Credits the broker holds unused are not held in fetch memory (a consumer waiting on
 * an empty queue holds nothing), but each step leaves room for them.
 *
 * Deliveries never wait here: what the broker hands over is written at once, so order, loss and
 * duplication are as without this; only the pace at which credits reach the broker changes. A
 * consumer whose client reads promptly gets its credits in large steps (all of them while fetch
 * memory has room), not one per delivery.
 */
import assert from 'node:assert/strict';
import { queueCreditsMax } from '../../broker/queue/queue-consumer.js';
import type { QueueConsumer, QueueDelivery } from '../../broker/types.js';
import type { SharedByteBudget } from '../../util/byte-budget.js';

/** What the credits need to know of their connection. */
export interface QueueCreditsConnection {
  /** Bytes one connection may hold in deliveries and credits passed on (fetchBytesInFlightMax). */
  readonly bytesMax: number;
  /** The connection's queue deliveries and receive answers written and not yet taken by the kernel. */
  deliveryBytes(): number;
  /** False while more than the outbound bound waits in the socket (then 'drain' calls `pass`), or the socket is gone. */
  writable(): boolean;
}

interface ConsumerCredits {
  readonly consumer: QueueConsumer;
  /** Credits the client granted that are not passed on yet. */
  kept: number;
  /** Credits passed on that the broker has not used yet. */
  passed: number;
  /** Bytes a message of this consumer takes in a delivery frame, as seen so far (the floor before its first delivery). */
  messageBytes: number;
  /** It gives back what it holds and closes: its credits are dropped, as the broker drops them. */
  stopped: boolean;
}

export class QueueCredits {
  readonly #fetchMemory: SharedByteBudget;
  readonly #connection: QueueCreditsConnection;
  readonly #consumers = new Map<number, ConsumerCredits>();
  /** Sum of `kept`: nothing to pass on while 0 (the fast path). */
  #keptTotal = 0;
  #passScheduled = false;

  constructor(fetchMemory: SharedByteBudget, connection: QueueCreditsConnection) {
    this.#fetchMemory = fetchMemory;
    this.#connection = connection;
  }

  /** A push consumer of this connection, under the client's `consumerId`. */
  add(consumerId: number, consumer: QueueConsumer): void {
    assert.ok(!this.#consumers.has(consumerId), `queue consumer ${consumerId} added twice`);
    // Before its first delivery a message is taken to be as large as the floor: a first step of
    // larger messages can pass the room once, by as many times as they are larger.
    this.#consumers.set(consumerId, { consumer, kept: 0, passed: 0, messageBytes: this.#fetchMemory.grantBytesMin, stopped: false });
  }

  remove(consumerId: number): void {
    const entry = this.#consumers.get(consumerId);
    if (entry === undefined) return;
    this.#keptTotal -= entry.kept;
    this.#consumers.delete(consumerId);
  }

  clear(): void {
    this.#consumers.clear();
    this.#keptTotal = 0;
  }

  /** The client granted `credits`; false when `consumerId` is no push consumer here. */
  grant(consumerId: number, credits: number): boolean {
    const entry = this.#consumers.get(consumerId);
    if (entry === undefined) return false;
    if (entry.stopped) return true;
    // The broker holds at most queueCreditsMax for a consumer: more than that was never kept.
    const kept = Math.min(entry.kept + credits, queueCreditsMax - entry.passed);
    this.#keptTotal += kept - entry.kept;
    entry.kept = kept;
    this.pass();
    return true;
  }

  /** The consumer gives back what it holds (QueueConsumer.stopDeliveries, which drops the broker's credits). */
  stop(consumerId: number): void {
    const entry = this.#consumers.get(consumerId);
    if (entry === undefined) return;
    this.#keptTotal -= entry.kept;
    entry.kept = 0;
    entry.passed = 0;
    entry.stopped = true;
  }

  /** The broker handed `deliveries` to the consumer, in a frame of `frameBytes`: they used credits passed on. */
  delivered(consumerId: number, deliveries: readonly QueueDelivery[], frameBytes: number): void {
    const entry = this.#consumers.get(consumerId);
    if (entry === undefined) return;
    let messages = 0;
    for (const delivery of deliveries) messages += delivery.count;
    if (messages === 0 || entry.stopped) return;
    entry.passed -= messages;
    assert.ok(entry.passed >= 0, `queue consumer ${consumerId} was handed ${messages} messages beyond the credits passed on`);
    // Grows at once, shrinks by halves: a step rarely outgrows the room it was cut for.
    const observed = Math.ceil(frameBytes / messages);
    entry.messageBytes = observed >= entry.messageBytes ? observed : Math.ceil((entry.messageBytes + observed) / 2);
  }

  /** Passes on more credits after the current task (deliveries released, many at once). */
  passSoon(): void {
    if (this.#keptTotal === 0 || this.#passScheduled) return;
    this.#passScheduled = true;
    setImmediate(() => {
      this.#passScheduled = false;
      this.pass();
    });
  }

  /** Passes on as many kept credits as the room covers (see the file comment). */
  pass(): void {
    if (this.#keptTotal === 0 || !this.#connection.writable()) return;
    const floorBytes = this.#fetchMemory.grantBytesMin;
    const deliveryBytes = this.#connection.deliveryBytes();
    let passedBytes = 0;
    for (const entry of this.#consumers.values()) passedBytes += entry.passed * entry.messageBytes;
    // A snapshot: a consumer served goes to the end, so that the next step starts with another.
    for (const [consumerId, entry] of [...this.#consumers]) {
      if (entry.kept === 0) continue;
      const heldBytes = deliveryBytes + passedBytes;
      // fetchMemory.held counts this connection's deliveries already, not the credits passed on.
      const sharedRoom = this.#fetchMemory.bytesMax - this.#fetchMemory.held - passedBytes;
      const room = Math.max(Math.min(sharedRoom, this.#connection.bytesMax - heldBytes), floorBytes - heldBytes);
      let credits = Math.min(entry.kept, Math.floor(room / entry.messageBytes));
      if (credits < 1 && heldBytes < floorBytes) credits = 1; // a message larger than the floor
      if (credits < 1) continue;
      entry.kept -= credits;
      entry.passed += credits;
      this.#keptTotal -= credits;
      passedBytes += credits * entry.messageBytes;
      this.#consumers.delete(consumerId);
      this.#consumers.set(consumerId, entry);
      entry.consumer.grant(credits);
    }
  }
}
