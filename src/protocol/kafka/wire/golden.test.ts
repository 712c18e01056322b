/**
 * Golden requests captured from kcat (librdkafka 2.0.2) and kafkajs 2.2.4 (golden/capture.ts):
 * each decodes, carries the expected field values, and re-encodes to the identical bytes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeBatch } from '../../../format/record-batch.js';
import { decodeRequest, encodeRequest, requestBody, type DecodedRequest } from './codec.js';
import { goldenRequests } from './golden/requests.js';
import { kafkaMessages as m } from './messages.js';

function golden(client: 'kcat' | 'kafkajs', api: string, apiVersion: number): DecodedRequest {
  const entry = goldenRequests.find((candidate) => candidate.client === client && candidate.api === api && candidate.apiVersion === apiVersion);
  assert.ok(entry, `no golden ${client} ${api} v${apiVersion}`);
  return decodeRequest(Buffer.from(entry.hex, 'hex'));
}

test('every golden request decodes and re-encodes to the same bytes', () => {
  assert.ok(goldenRequests.length >= 30);
  for (const entry of goldenRequests) {
    const frame = Buffer.from(entry.hex, 'hex');
    const decoded = decodeRequest(frame);
    const name = `${entry.client} ${entry.api} v${entry.apiVersion}`;
    assert.equal(decoded.kind, 'request', name);
    if (decoded.kind !== 'request') continue;
    assert.equal(decoded.header.apiKey, entry.apiKey, name);
    assert.equal(decoded.header.apiVersion, entry.apiVersion, name);
    const again = encodeRequest(decoded.message, decoded.header, decoded.body as never);
    assert.equal(again.subarray(4).toString('hex'), entry.hex, name);
  }
});

test('the clients send the versions the compatibility notes predict', () => {
  const versions = (client: string, api: string) =>
    goldenRequests.filter((entry) => entry.client === client && entry.api === api).map((entry) => entry.apiVersion).sort();
  assert.deepEqual(versions('kcat', 'ApiVersions'), [0, 3]);
  assert.deepEqual(versions('kafkajs', 'ApiVersions'), [0, 1, 2]);
  assert.deepEqual(versions('kcat', 'Produce'), [7]);
  assert.deepEqual(versions('kafkajs', 'Fetch'), [11]);
  assert.deepEqual(versions('kcat', 'Metadata'), [4]);
  assert.deepEqual(versions('kafkajs', 'Metadata'), [6]);
  assert.deepEqual(versions('kcat', 'OffsetFetch'), [5]);
  assert.deepEqual(versions('kafkajs', 'LeaveGroup'), [3]);
  assert.deepEqual(versions('kafkajs', 'CreatePartitions'), [1]);
  assert.deepEqual(versions('kafkajs', 'DescribeConfigs'), [2]);
  assert.deepEqual(versions('kafkajs', 'AlterConfigs'), [1]);
});

test('kcat Produce v7 carries one batch with keys and headers', () => {
  const body = requestBody(golden('kcat', 'Produce', 7), m.produce);
  assert.equal(body.acks, -1);
  assert.equal(body.transactionalId, null);
  assert.equal(body.topics[0]!.name, 'golden');
  const records = body.topics[0]!.partitions[0]!.records!;
  const batch = decodeBatch(records, 0, { decompressedBytesMax: 1 << 20 });
  assert.deepEqual(batch.records.map((record) => `${record.key}=${record.value}`), ['k1=v1', 'k2=v2']);
  assert.deepEqual(batch.records[0]!.headers.map((header) => `${header.key}=${header.value}`), ['trace=abc']);
});

test('kafkajs Fetch v11 and kcat ListOffsets v2 field values', () => {
  const fetch = requestBody(golden('kafkajs', 'Fetch', 11), m.fetch);
  assert.equal(fetch.replicaId, -1);
  assert.equal(fetch.isolationLevel, 1);
  assert.equal(fetch.sessionId, 0);
  assert.equal(fetch.sessionEpoch, -1);
  assert.equal(fetch.topics[0]!.topic, 'kjs');
  assert.equal(fetch.topics[0]!.partitions[0]!.fetchOffset, 0n);
  const listOffsets = requestBody(golden('kcat', 'ListOffsets', 2), m.listOffsets);
  assert.equal(listOffsets.topics[0]!.partitions[0]!.timestamp, -2n);
});

test('group requests: JoinGroup protocols, SyncGroup assignment, OffsetCommit v7', () => {
  const kcatJoin = requestBody(golden('kcat', 'JoinGroup', 5), m.joinGroup);
  assert.equal(kcatJoin.groupId, 'kcat-group');
  assert.equal(kcatJoin.memberId, '');
  assert.equal(kcatJoin.protocolType, 'consumer');
  assert.deepEqual(kcatJoin.protocols.map((protocol) => protocol.name), ['range', 'roundrobin']);
  assert.equal(kcatJoin.sessionTimeoutMs, 45000);
  const kafkajsJoin = requestBody(golden('kafkajs', 'JoinGroup', 5), m.joinGroup);
  assert.deepEqual(kafkajsJoin.protocols.map((protocol) => protocol.name), ['RoundRobinAssigner']);
  const sync = requestBody(golden('kcat', 'SyncGroup', 3), m.syncGroup);
  assert.equal(sync.assignments.length, 1);
  assert.equal(sync.assignments[0]!.memberId, sync.memberId);
  const commit = requestBody(golden('kcat', 'OffsetCommit', 7), m.offsetCommit);
  assert.equal(commit.generationId, 1);
  assert.equal(commit.topics[0]!.partitions[0]!.committedOffset, 3n);
  const leave = requestBody(golden('kafkajs', 'LeaveGroup', 3), m.leaveGroup);
  assert.equal(leave.members.length, 1);
});

test('kafkajs admin requests: CreatePartitions without assignments, DescribeConfigs keys, AlterConfigs entries', () => {
  const grow = requestBody(golden('kafkajs', 'CreatePartitions', 1), m.createPartitions);
  assert.deepEqual(grow.topics, [{ name: 'kjs', count: 2, assignments: null }]);
  assert.equal(grow.validateOnly, false);
  const describe = requestBody(golden('kafkajs', 'DescribeConfigs', 2), m.describeConfigs);
  assert.deepEqual(describe.resources, [{ resourceType: 2, resourceName: 'kjs', configurationKeys: ['retention.ms'] }]);
  assert.equal(describe.includeSynonyms, false);
  const alter = requestBody(golden('kafkajs', 'AlterConfigs', 1), m.alterConfigs);
  assert.deepEqual(alter.resources, [{ resourceType: 2, resourceName: 'kjs', configs: [{ name: 'retention.ms', value: '3600000' }] }]);
  assert.equal(alter.validateOnly, false);
});

test('ApiVersions v3 from librdkafka names its software', () => {
  const body = requestBody(golden('kcat', 'ApiVersions', 3), m.apiVersions);
  assert.equal(body.clientSoftwareName, 'librdkafka');
  assert.equal(body.clientSoftwareVersion, '2.0.2');
});
