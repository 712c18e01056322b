/**
 * The two clocks that close a connection of the native or Kafka listener for what its client does
 * not do (the native hello limit is a plain timer in server-connection.ts):
 *
 *  - idle (`idleMsMax`, as Kafka's `connections.max.idle.ms`): a connection that has received no
 *    bytes and written no output for this long, and has nothing in progress, is closed. What is in
 *    progress the connection says (`busy`; native: a request running, a parked long poll among
 *    them, a push subscription, a queue consumer, a group membership, output still queued, or
 *    reading paused by the server; Kafka: a request running, output queued, or reading paused by
 *    the server). A busy connection counts as active at every look.
 *  - output taken (also `idleMsMax`): a connection with output queued of which the kernel has
 *    taken nothing for this long is closed: its client stopped reading (a frozen process, a client
 *    that only writes). Queued output keeps a connection busy, so without this such a client would
 *    hold its output, its request bytes and its requests for as long as it lived; Kafka closes it
 *    the same way, as a connection with no reads or writes completing. Progress is seen at the
 *    timer's looks, so a stall is noticed between one and two limits after it began: a socket
 *    write completed since the last look (`bytesWritten` less `writableLength` grew), or part of
 *    the one in progress taken (libuv's count of its bytes not yet in the kernel changed; Node's
 *    writev hands all queued output, up to the output bound, to one write). A client reading
 *    however slowly stays.
 *  - frame arrival (`frameArrivalMsMax`): a frame begun (its first byte read) must be all there
 *    within this long, counted from its first byte or from when the server last resumed reading,
 *    whichever is later: time the server held reading up is not the client's. While reading is
 *    paused the clock does not run.
 *
 * One timer, not re-armed per read: it fires at the earliest moment a limit could have passed,
 * then looks again. Either limit at 0 never closes.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/**
 * The frame arrival limit of both listeners unless set: the TypeScript client's, the Java client's
 * and kafkajs's request timeout, after which the client has given up on the request anyway.
 */
export const frameArrivalMsMaxDefault = 30_000;

/**
 * A connection past a listener's connectionsMax is told why before it is closed (native: its
 * hello answered, HTTP: its first request answered): it may take this long to send what is
 * answered and to close after the answer.
 */
export const refusalMsMax = 2_000;
/** Refused connections lingering at once, per listener; past this more are closed at accept. */
export const refusingConnectionsMax = 64;

/** What a connection refused for the connection limit is told (by every listener that answers one). */
export function connectionLimitMessage(connectionsMax: number): string {
  return `the broker is at its connection limit: this listener holds connectionsMax (${connectionsMax}) connections already (weir start --connections-max); try again later`;
}

/** A listener's refused connections that linger to be told why: at most refusingConnectionsMax at once, each for at most refusalMsMax. */
export class RefusedConnections {
  #lingering = 0;

  /** Whether `socket` may linger for its answer; if not, it is destroyed at once. */
  admit(socket: Socket): boolean {
    if (this.#lingering >= refusingConnectionsMax) {
      socket.destroy();
      return false;
    }
    this.#lingering++;
    const timer = setTimeout(() => socket.destroy(), refusalMsMax);
    timer.unref();
    socket.once('close', () => {
      clearTimeout(timer);
      this.#lingering--;
    });
    return true;
  }
}

export interface DeadlineLimits {
  /** 0: never. */
  idleMsMax: number;
  /** 0: never. */
  frameArrivalMsMax: number;
}

export interface DeadlineTarget {
  /** The connection's socket, whose queued output is watched (see the file comment). */
  readonly socket: Socket;
  /** Whether the connection has something in progress (see the file comment). */
  busy(): boolean;
  /** Whether the server has paused reading the socket (the frame clock stops). */
  readingPaused(): boolean;
  /** A limit passed: the connection closes, for `reason` (which names the limit). */
  expired(limit: 'idle' | 'output' | 'frameArrival', reason: string): void;
}

export class ConnectionDeadlines {
  readonly #limits: DeadlineLimits;
  readonly #target: DeadlineTarget;
  /** When the connection last received bytes or wrote output (performance.now() ms). */
  #activeAtMs = performance.now();
  /** When the frame now part-read began, or reading last resumed, whichever is later; null with none begun. */
  #frameSinceMs: number | null = null;
  /** Output bytes of completed socket writes, at the look that began the current stall (see #outputStalledMs). */
  #outputTaken = 0;
  /** Bytes of the socket write in progress not yet in the kernel, at that look (-1 where Node does not say). */
  #outputUnwritten = -1;
  /** Since when (performance.now() ms) queued output has been seen with no more of it taken; null with none queued. */
  #outputStallSinceMs: number | null = null;
  #timer: NodeJS.Timeout | null = null;
  /** When the timer fires (performance.now() ms). */
  #dueMs = Number.POSITIVE_INFINITY;
  #stopped = false;

  constructor(limits: DeadlineLimits, target: DeadlineTarget) {
    this.#limits = limits;
    this.#target = target;
    if (limits.idleMsMax > 0) this.#armBy(this.#activeAtMs + limits.idleMsMax);
  }

  /** Bytes received, or output written. */
  active(nowMs: number): void {
    this.#activeAtMs = nowMs;
  }

  /** After a read: whether part of a frame is here (the start of the next, or the rest of one). */
  read(nowMs: number, frameBegun: boolean): void {
    this.#activeAtMs = nowMs;
    this.framePending(nowMs, frameBegun);
  }

  /** Whether part of a frame is waiting to be read whole (after a read, or after draining what was read). */
  framePending(nowMs: number, frameBegun: boolean): void {
    if (!frameBegun) {
      this.#frameSinceMs = null;
      return;
    }
    if (this.#frameSinceMs !== null) return;
    this.#frameSinceMs = nowMs;
    if (this.#limits.frameArrivalMsMax > 0) this.#armBy(nowMs + this.#limits.frameArrivalMsMax);
  }

  /** A frame was read whole: a frame part-read after it began after it. */
  frameRead(): void {
    this.#frameSinceMs = null;
  }

  /** The server resumed reading: a frame begun before gets its whole limit again from now. */
  readingResumed(): void {
    if (this.#frameSinceMs === null) return;
    const nowMs = performance.now();
    this.#frameSinceMs = nowMs;
    if (this.#limits.frameArrivalMsMax > 0) this.#armBy(nowMs + this.#limits.frameArrivalMsMax);
  }

  /** The connection is closing: no limit applies any more. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** Makes the timer fire by `dueMs` (earlier if it already does). */
  #armBy(dueMs: number): void {
    if (this.#stopped || dueMs >= this.#dueMs) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#dueMs = dueMs;
    this.#timer = setTimeout(() => this.#check(), Math.max(1, Math.ceil(dueMs - performance.now())));
    this.#timer.unref();
  }

  #check(): void {
    this.#timer = null;
    this.#dueMs = Number.POSITIVE_INFINITY;
    if (this.#stopped) return;
    const nowMs = performance.now();
    const { idleMsMax, frameArrivalMsMax } = this.#limits;
    const paused = this.#target.readingPaused();
    if (frameArrivalMsMax > 0 && this.#frameSinceMs !== null && !paused) {
      const waitedMs = nowMs - this.#frameSinceMs;
      if (waitedMs >= frameArrivalMsMax) {
        this.#target.expired('frameArrival', `a frame begun ${Math.round(waitedMs)} ms ago has not all arrived (frame arrival limit ${frameArrivalMsMax} ms)`);
        return;
      }
      this.#armBy(this.#frameSinceMs + frameArrivalMsMax);
    }
    if (idleMsMax > 0) {
      const stalledMs = this.#outputStalledMs(nowMs);
      if (stalledMs >= idleMsMax) {
        const queued = this.#target.socket.writableLength;
        this.#target.expired('output', `the client took none of its ${queued} bytes of queued output for ${Math.round(stalledMs)} ms (connection idle limit ${idleMsMax} ms): it stopped reading`);
        return;
      }
      if (this.#target.busy()) this.#activeAtMs = nowMs;
      const idleMs = nowMs - this.#activeAtMs;
      if (idleMs >= idleMsMax) {
        this.#target.expired('idle', `idle for ${Math.round(idleMs)} ms (connection idle limit ${idleMsMax} ms)`);
        return;
      }
      this.#armBy(this.#activeAtMs + idleMsMax);
      if (this.#outputStallSinceMs !== null) this.#armBy(this.#outputStallSinceMs + idleMsMax);
    }
  }

  /** How long queued output has been seen with none of it taken by the kernel (0 with none queued or some taken since the last look). */
  #outputStalledMs(nowMs: number): number {
    const socket = this.#target.socket;
    if (socket.writableLength === 0) {
      this.#outputStallSinceMs = null;
      return 0;
    }
    // Bytes handed to the socket less those still queued: the completed writes.
    const taken = socket.bytesWritten - socket.writableLength;
    const unwritten = writeInProgressUnwritten(socket);
    if (this.#outputStallSinceMs === null || taken !== this.#outputTaken || unwritten !== this.#outputUnwritten) {
      this.#outputTaken = taken;
      this.#outputUnwritten = unwritten;
      this.#outputStallSinceMs = nowMs;
      return 0;
    }
    return nowMs - this.#outputStallSinceMs;
  }
}

/**
 * Bytes of the socket's write in progress that the kernel has not taken yet: libuv's write queue
 * size, which Node keeps on the socket's handle (not a documented API, there since Node 8; -1
 * where it is missing, and then only completed writes count as progress).
 */
function writeInProgressUnwritten(socket: Socket): number {
  const size = (socket as unknown as { _handle?: { writeQueueSize?: unknown } | null })._handle?.writeQueueSize;
  return typeof size === 'number' ? size : -1;
}
