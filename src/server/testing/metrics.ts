/**
 * For tests: samples from a broker process's /metrics, by the series as the broker exposes it
 * (`name`, or `name{label="value",…}` with the labels in the order exposed).
 */
import assert from 'node:assert/strict';
import type { BrokerProcess } from './broker-process.js';

async function samples(broker: Pick<BrokerProcess, 'httpPort'>): Promise<string[]> {
  assert.ok(broker.httpPort !== null, 'the broker has no HTTP port to scrape');
  return (await (await fetch(`http://127.0.0.1:${broker.httpPort}/metrics`)).text()).split('\n');
}

/** The value of `series`, which must be exposed. */
export async function metricSample(broker: Pick<BrokerProcess, 'httpPort'>, series: string): Promise<number> {
  const prefix = `${series} `;
  const line = (await samples(broker)).find((l) => l.startsWith(prefix));
  assert.ok(line !== undefined, `${series} on /metrics`);
  return Number(line.slice(prefix.length));
}

/** How many requests of `api` the `protocol` listener has answered (0 before the first, when the series is not exposed yet). */
export async function requestsAnswered(broker: Pick<BrokerProcess, 'httpPort'>, protocol: string, api: string): Promise<number> {
  const prefix = `weir_request_duration_seconds_count{protocol="${protocol}",api="${api}"} `;
  const line = (await samples(broker)).find((l) => l.startsWith(prefix));
  return line === undefined ? 0 : Number(line.slice(prefix.length));
}
