/**
 * For tests: a real Broker in a temporary directory behind an HttpListener on 127.0.0.1 and a
 * free port, plus small helpers to call it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Broker, type BrokerOptions } from '../../broker/broker.js';
import { HttpListener, type HttpListenerOptions } from './http-listener.js';

export interface TestHttp {
  broker: Broker;
  listener: HttpListener;
  base: string;
  port: number;
  logs: string[];
  /** fetch with a JSON body; answers the status and the parsed JSON (or null). */
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any; headers: Headers }>;
  stop(): Promise<void>;
}

export async function startTestHttp(options: { broker?: Partial<BrokerOptions>; listener?: Partial<HttpListenerOptions> } = {}): Promise<TestHttp> {
  const dataDir = await mkdtemp(join(tmpdir(), 'weir-http-'));
  const logs: string[] = [];
  const logger = (level: string, message: string): void => void logs.push(`${level}: ${message}`);
  const broker = await Broker.open({ dataDir, defaultTopicConfig: { flush: { kind: 'none' } }, logger, ...options.broker });
  const listener = new HttpListener(broker, { host: '127.0.0.1', port: 0, logger, ...options.listener });
  const { port } = await listener.start();
  const base = `http://127.0.0.1:${port}`;
  return {
    broker,
    listener,
    base,
    port,
    logs,
    async call(method, path, body) {
      const init: RequestInit = { method };
      if (body !== undefined) {
        init.body = typeof body === 'string' ? body : JSON.stringify(body);
        init.headers = { 'content-type': 'application/json' };
      }
      const response = await fetch(base + path, init);
      const text = await response.text();
      let parsed: unknown = null;
      if (text.length > 0 && (response.headers.get('content-type') ?? '').includes('json')) parsed = JSON.parse(text);
      return { status: response.status, body: parsed, headers: response.headers };
    },
    async stop() {
      await listener.close();
      await broker.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
