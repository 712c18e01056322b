/**
 * Routes a decoded Kafka request to its handler and encodes the answer. Returns the response
 * frame as chunks, or null when the client expects no response (Produce with acks 0).
 */
import { encodeResponse, encodeUnsupportedVersion, requestBody, type DecodedRequest } from './wire/codec.js';
import { kafkaMessages as m } from './wire/messages.js';
import { servesVersion } from './wire/versions.js';
import type { HandlerContext } from './handlers/context.js';
import { handleApiVersions, handleFindCoordinator, handleMetadata } from './handlers/cluster.js';
import { handleAlterConfigs, handleDescribeConfigs, handleIncrementalAlterConfigs } from './handlers/configs.js';
import { handleFetch } from './handlers/fetch.js';
import {
  handleDeleteGroups,
  handleDescribeGroups,
  handleHeartbeat,
  handleJoinGroup,
  handleLeaveGroup,
  handleListGroups,
  handleSyncGroup,
} from './handlers/groups.js';
import { handleListOffsets, handleOffsetCommit, handleOffsetFetch } from './handlers/offsets.js';
import { handleProduce } from './handlers/produce.js';
import { handleCreatePartitions, handleCreateTopics, handleDeleteTopics, handleInitProducerId } from './handlers/topics.js';

export async function dispatchRequest(context: HandlerContext, decoded: DecodedRequest): Promise<Buffer[] | null> {
  const { header } = decoded;
  if (decoded.kind === 'unsupported') return encodeUnsupportedVersion(header);
  // Produce 0–2 is advertised but refused inside the handler, partition by partition.
  if (!servesVersion(header.apiKey, header.apiVersion) && decoded.message !== m.produce) return encodeUnsupportedVersion(header);
  switch (decoded.message) {
    case m.apiVersions:
      return encodeResponse(m.apiVersions, header, handleApiVersions());
    case m.metadata:
      return encodeResponse(m.metadata, header, await handleMetadata(context, requestBody(decoded, m.metadata)));
    case m.produce: {
      const body = await handleProduce(context, requestBody(decoded, m.produce));
      return body === null ? null : encodeResponse(m.produce, header, body);
    }
    case m.fetch:
      return encodeResponse(m.fetch, header, await handleFetch(context, requestBody(decoded, m.fetch)));
    case m.listOffsets:
      return encodeResponse(m.listOffsets, header, await handleListOffsets(context, requestBody(decoded, m.listOffsets)));
    case m.findCoordinator:
      return encodeResponse(m.findCoordinator, header, handleFindCoordinator(context, requestBody(decoded, m.findCoordinator)));
    case m.joinGroup:
      return encodeResponse(m.joinGroup, header, await handleJoinGroup(context, requestBody(decoded, m.joinGroup)));
    case m.syncGroup:
      return encodeResponse(m.syncGroup, header, await handleSyncGroup(context, requestBody(decoded, m.syncGroup)));
    case m.heartbeat:
      return encodeResponse(m.heartbeat, header, await handleHeartbeat(context, requestBody(decoded, m.heartbeat)));
    case m.leaveGroup:
      return encodeResponse(m.leaveGroup, header, await handleLeaveGroup(context, requestBody(decoded, m.leaveGroup)));
    case m.offsetCommit:
      return encodeResponse(m.offsetCommit, header, await handleOffsetCommit(context, requestBody(decoded, m.offsetCommit)));
    case m.offsetFetch:
      return encodeResponse(m.offsetFetch, header, await handleOffsetFetch(context, requestBody(decoded, m.offsetFetch)));
    case m.describeGroups:
      return encodeResponse(m.describeGroups, header, handleDescribeGroups(context, requestBody(decoded, m.describeGroups)));
    case m.listGroups:
      return encodeResponse(m.listGroups, header, handleListGroups(context));
    case m.deleteGroups:
      return encodeResponse(m.deleteGroups, header, await handleDeleteGroups(context, requestBody(decoded, m.deleteGroups)));
    case m.createTopics:
      return encodeResponse(m.createTopics, header, await handleCreateTopics(context, requestBody(decoded, m.createTopics)));
    case m.deleteTopics:
      return encodeResponse(m.deleteTopics, header, await handleDeleteTopics(context, requestBody(decoded, m.deleteTopics)));
    case m.initProducerId:
      return encodeResponse(m.initProducerId, header, await handleInitProducerId(context, requestBody(decoded, m.initProducerId)));
    case m.createPartitions:
      return encodeResponse(m.createPartitions, header, await handleCreatePartitions(context, requestBody(decoded, m.createPartitions)));
    case m.describeConfigs:
      return encodeResponse(m.describeConfigs, header, handleDescribeConfigs(context, requestBody(decoded, m.describeConfigs)));
    case m.alterConfigs:
      return encodeResponse(m.alterConfigs, header, await handleAlterConfigs(context, requestBody(decoded, m.alterConfigs)));
    case m.incrementalAlterConfigs: {
      const body = requestBody(decoded, m.incrementalAlterConfigs);
      return encodeResponse(m.incrementalAlterConfigs, header, await handleIncrementalAlterConfigs(context, body));
    }
    default:
      return encodeUnsupportedVersion(header);
  }
}
