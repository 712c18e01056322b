/**
 * For tests: a Broker on a given data directory behind a NativeListener on 127.0.0.1 and a free
 * port, with a connection to it. Stopping leaves the directory, so a test can start again on it
 * (a restart) and see what the broker kept.
 */
import { Connection } from '../../client/connection.js';
import { NativeListener } from '../../protocol/native/listener.js';
import { Broker, type BrokerOptions } from '../broker.js';

export interface ListeningBroker {
  broker: Broker;
  connection: Connection;
  /** Resolves with the first log line from now on that matches, or rejects after `timeoutMs`. */
  logged(pattern: RegExp, timeoutMs: number): Promise<string>;
  stop(): Promise<void>;
}

export async function startListeningBroker(dataDir: string, options: Omit<BrokerOptions, 'dataDir' | 'logger'> = {}): Promise<ListeningBroker> {
  const watchers = new Set<(line: string) => void>();
  const logger = (_level: string, message: string): void => {
    for (const watch of watchers) watch(message);
  };
  const broker = await Broker.open({ defaultTopicConfig: { flush: { kind: 'none' } }, ...options, dataDir, logger });
  const listener = new NativeListener(broker, { host: '127.0.0.1', port: 0, logger });
  const { port } = await listener.start();
  const connection = await Connection.open({ host: '127.0.0.1', port, clientId: 'test', connectTimeoutMs: 2_000, requestTimeoutMs: 10_000 });
  return {
    broker,
    connection,
    logged: (pattern, timeoutMs) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          watchers.delete(watch);
          reject(new Error(`no log line matching ${pattern} within ${timeoutMs} ms`));
        }, timeoutMs);
        const watch = (line: string): void => {
          if (!pattern.test(line)) return;
          clearTimeout(timer);
          watchers.delete(watch);
          resolve(line);
        };
        watchers.add(watch);
      }),
    async stop() {
      connection.close();
      await listener.close();
      await broker.close();
    },
  };
}
