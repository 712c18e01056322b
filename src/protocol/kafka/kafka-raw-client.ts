/**
 * Test support: a raw Kafka client on a socket to 127.0.0.1 that sends requests encoded by Weir's
 * own codec and hands back the response frames, for byte-level tests and for APIs and versions
 * the real clients do not send.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { decodeResponse, encodeRequest } from './wire/codec.js';
import { FrameReader } from './wire/frame-reader.js';
import type { MessageSpec, RequestInput, ResponseOf } from './wire/schema.js';

export class RawClient {
  readonly socket: Socket;
  readonly #frames = new FrameReader();
  readonly #received: Buffer[] = [];
  #waiter: (() => void) | null = null;
  closed = false;
  #correlation = 0;

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#frames.push(chunk, (frame) => {
        this.#received.push(frame);
      });
      this.#waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#waiter?.();
    });
    socket.on('error', () => {});
  }

  static async open(port: number): Promise<RawClient> {
    const socket = connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    return new RawClient(socket);
  }

  send<M extends MessageSpec>(message: M, version: number, body: RequestInput<M>): number {
    const correlationId = ++this.#correlation;
    this.socket.write(encodeRequest(message, { apiKey: message.apiKey, apiVersion: version, correlationId, clientId: 'raw' }, body));
    return correlationId;
  }

  /** Sends one request and decodes its response (the next frame, which must carry its correlation id). */
  async call<M extends MessageSpec>(message: M, version: number, body: RequestInput<M>): Promise<ResponseOf<M>> {
    const correlationId = this.send(message, version, body);
    const frame = await this.next();
    assert.ok(frame, `${message.name} v${version}: the connection closed`);
    const response = decodeResponse(message, version, frame);
    assert.equal(response.correlationId, correlationId);
    return response.body;
  }

  /** The next response frame (without size prefix); null if the connection closed first. */
  async next(timeoutMs = 5000): Promise<Buffer | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.#received.length === 0) {
      if (this.closed) return null;
      const left = deadline - Date.now();
      assert.ok(left > 0, 'no response in time');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#waiter = null;
    }
    return this.#received.shift()!;
  }

  async closedWithin(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    return this.closed;
  }

  close(): void {
    this.socket.destroy();
  }
}
