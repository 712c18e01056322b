/**
 * The consumer's prefetched messages: a FIFO between the fetch (or push) side and the
 * application. Bounded by the fetch side waiting for `room()` (pull) or by the credits it grants
 * (push); this class keeps the accounting of what was taken so credits can be returned.
 */
import type { ConsumerMessage } from './message.js';

interface DeliveryMark {
  /** Messages pushed up to and including this delivery. */
  upTo: number;
  messages: number;
  bytes: number;
}

export class MessageBuffer {
  #items: ConsumerMessage[] = [];
  #head = 0;
  #pushed = 0;
  #taken = 0;
  #marks: DeliveryMark[] = [];
  #messagesDue = 0;
  #bytesDue = 0;
  #dataWaiters: (() => void)[] = [];
  #roomWaiters: (() => void)[] = [];

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(message: ConsumerMessage): void {
    this.#items.push(message);
    this.#pushed++;
  }

  /** After a push delivery: its charged credits come back once its messages are all taken. */
  markDelivery(messages: number, bytes: number): void {
    this.#marks.push({ upTo: this.#pushed, messages, bytes });
    this.#settleMarks();
  }

  /** Wakes the reader (call after a batch of pushes). */
  notify(): void {
    if (this.#dataWaiters.length > 0) for (const wake of this.#dataWaiters.splice(0)) wake();
  }

  shift(): ConsumerMessage | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const message = this.#items[this.#head]!;
    this.#items[this.#head] = undefined as never;
    this.#head++;
    this.#taken++;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    if (this.#marks.length > 0) this.#settleMarks();
    if (this.#roomWaiters.length > 0) for (const wake of this.#roomWaiters.splice(0)) wake();
    return message;
  }

  #settleMarks(): void {
    while (this.#marks.length > 0 && this.#marks[0]!.upTo <= this.#taken) {
      const mark = this.#marks.shift()!;
      this.#messagesDue += mark.messages;
      this.#bytesDue += mark.bytes;
    }
  }

  /** Credits earned back since the last call. */
  takeCreditsDue(): { messages: number; bytes: number } {
    const due = { messages: this.#messagesDue, bytes: this.#bytesDue };
    this.#messagesDue = 0;
    this.#bytesDue = 0;
    return due;
  }

  peekCreditsDue(): { messages: number; bytes: number } {
    return { messages: this.#messagesDue, bytes: this.#bytesDue };
  }

  /** Drops every buffered message and all credit accounting (a new subscription starts afresh). */
  clear(): void {
    this.#items = [];
    this.#head = 0;
    this.#pushed = 0;
    this.#taken = 0;
    this.#marks = [];
    this.#messagesDue = 0;
    this.#bytesDue = 0;
    this.wakeAll();
  }

  /** Resolves when a message is there or `wakeAll` is called. */
  waitForData(): Promise<void> {
    if (this.length > 0) return Promise.resolve();
    return new Promise((resolve) => this.#dataWaiters.push(resolve));
  }

  /** Resolves when fewer than `limit` messages are buffered or `wakeAll` is called. */
  room(limit: number): Promise<void> {
    if (this.length < limit) return Promise.resolve();
    return new Promise((resolve) => this.#roomWaiters.push(resolve));
  }

  wakeAll(): void {
    for (const wake of this.#dataWaiters.splice(0)) wake();
    for (const wake of this.#roomWaiters.splice(0)) wake();
  }
}
