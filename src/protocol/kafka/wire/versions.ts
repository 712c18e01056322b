/**
 * The API versions Weir advertises in ApiVersions and the ones it serves.
 *
 * Advertised and served differ for Produce only: librdkafka 2.0.2 enables gzip, snappy and lz4
 * only when the advertised Produce range contains version 0 (it tests single versions, fixed in
 * librdkafka 2.11.1), so Weir advertises 0–7, as Kafka 4.0 does, and answers 0–2 — which would
 * carry the legacy message set — with UNSUPPORTED_VERSION. The same quirk asks for Produce 3 and
 * Fetch 4 (RecordBatch v2), Produce 7 and Fetch 10 (zstd), FindCoordinator 0 (consumer groups and
 * lz4) and ListOffsets 1 (offsets for times) to lie inside the advertised ranges.
 * OffsetFetch stops at 5: librdkafka would switch to the flexible v6/v7 above it.
 * The partition and config admin APIs are advertised up to their flexible versions (CreatePartitions
 * 2–3, DescribeConfigs 4, AlterConfigs 2, IncrementalAlterConfigs 1), the newest a Java admin
 * client sends; kafkajs 2.2.4 stops below them (CreatePartitions 1, DescribeConfigs 2,
 * AlterConfigs 1, no IncrementalAlterConfigs). kcat makes none of these calls. DeleteGroups is
 * served 0–2 (kafkajs sends v1).
 * kafkajs ignores the minimum and sends min(its max, advertised max).
 */
import { kafkaMessages } from './messages.js';
import type { VersionRange } from './schema.js';

export interface ApiVersionRange {
  readonly apiKey: number;
  readonly minVersion: number;
  readonly maxVersion: number;
}

function range(message: { apiKey: number }, minVersion: number, maxVersion: number): ApiVersionRange {
  return { apiKey: message.apiKey, minVersion, maxVersion };
}

const m = kafkaMessages;

/** What ApiVersions answers, in API key order. */
export const advertisedVersions: readonly ApiVersionRange[] = [
  range(m.produce, 0, 7),
  range(m.fetch, 4, 11),
  range(m.listOffsets, 1, 3),
  range(m.metadata, 0, 6),
  range(m.offsetCommit, 2, 7),
  range(m.offsetFetch, 1, 5),
  range(m.findCoordinator, 0, 2),
  range(m.joinGroup, 0, 5),
  range(m.heartbeat, 0, 3),
  range(m.leaveGroup, 0, 3),
  range(m.syncGroup, 0, 3),
  range(m.describeGroups, 0, 4),
  range(m.listGroups, 0, 2),
  range(m.apiVersions, 0, 3),
  range(m.createTopics, 0, 4),
  range(m.deleteTopics, 0, 3),
  range(m.initProducerId, 0, 1),
  range(m.describeConfigs, 0, 4),
  range(m.alterConfigs, 0, 2),
  range(m.createPartitions, 0, 3),
  range(m.deleteGroups, 0, 2),
  range(m.incrementalAlterConfigs, 0, 1),
];

/** Versions actually served; an advertised version outside these is answered UNSUPPORTED_VERSION. */
const servedOverrides = new Map<number, VersionRange>([[m.produce.apiKey, { min: 3, max: 7 }]]);

export function servesVersion(apiKey: number, apiVersion: number): boolean {
  const advertised = advertisedVersions.find((entry) => entry.apiKey === apiKey);
  if (advertised === undefined) return false;
  const served = servedOverrides.get(apiKey) ?? { min: advertised.minVersion, max: advertised.maxVersion };
  return apiVersion >= served.min && apiVersion <= served.max;
}
