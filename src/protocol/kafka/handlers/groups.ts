/**
 * Classic consumer groups: JoinGroup, SyncGroup, Heartbeat, LeaveGroup, DescribeGroups,
 * ListGroups and DeleteGroups map one to one onto the broker's group coordinator. Member metadata and
 * assignments stay opaque bytes (client-side assignment, protocol type 'consumer').
 */
import { isWeirError } from '../../../util/errors.js';
import { kafkaErrors } from '../wire/error-codes.js';
import { kafkaMessages as m } from '../wire/messages.js';
import type { RequestOf, ResponseInput } from '../wire/schema.js';
import { errorCodeOf, type HandlerContext } from './context.js';

/**
 * Group failures in Kafka's words (the catalog maps the rest, error-codes.ts). A broker going away
 * (shutting down, or its offsets log closed under the request) is COORDINATOR_NOT_AVAILABLE for
 * the group and offset APIs: clients look for the coordinator again and retry, where the
 * partition codes (LEADER_NOT_AVAILABLE, NOT_LEADER_OR_FOLLOWER) are unexpected errors to them.
 */
export function groupErrorCode(context: HandlerContext, error: unknown): number {
  if (isWeirError(error, 'UNKNOWN_GROUP')) return kafkaErrors.UNKNOWN_MEMBER_ID;
  if (isWeirError(error, 'SHUTTING_DOWN') || isWeirError(error, 'CLOSED')) return kafkaErrors.COORDINATOR_NOT_AVAILABLE;
  return errorCodeOf(context, error);
}

export async function handleJoinGroup(context: HandlerContext, body: RequestOf<typeof m.joinGroup>): Promise<ResponseInput<typeof m.joinGroup>> {
  // As Kafka: a member must name its protocol type. A group made with an empty one would also be
  // listed as one known only by its offsets (ListGroups gives those an empty protocol type).
  if (body.protocolType === '') return { errorCode: kafkaErrors.INCONSISTENT_GROUP_PROTOCOL, generationId: -1, memberId: body.memberId };
  try {
    const result = await context.broker.joinGroup({
      groupId: body.groupId,
      memberId: body.memberId,
      groupInstanceId: body.groupInstanceId,
      clientId: context.header.clientId ?? '',
      clientHost: context.clientHost,
      sessionTimeoutMs: body.sessionTimeoutMs,
      rebalanceTimeoutMs: body.rebalanceTimeoutMs < 0 ? body.sessionTimeoutMs : body.rebalanceTimeoutMs,
      protocolType: body.protocolType,
      protocols: body.protocols.map((protocol) => ({ name: protocol.name, metadata: Buffer.from(protocol.metadata) })),
    });
    return {
      generationId: result.generationId,
      protocolName: result.protocolName,
      leader: result.leaderId,
      memberId: result.memberId,
      members: result.members.map((member) => ({ ...member })),
    };
  } catch (error) {
    // The one limit a join meets is the group's member cap, Kafka's `group.max.size`.
    const errorCode = isWeirError(error, 'LIMIT_EXCEEDED') ? kafkaErrors.GROUP_MAX_SIZE_REACHED : groupErrorCode(context, error);
    return { errorCode, generationId: -1, memberId: body.memberId };
  }
}

export async function handleSyncGroup(context: HandlerContext, body: RequestOf<typeof m.syncGroup>): Promise<ResponseInput<typeof m.syncGroup>> {
  try {
    const result = await context.broker.syncGroup({
      groupId: body.groupId,
      generationId: body.generationId,
      memberId: body.memberId,
      groupInstanceId: body.groupInstanceId,
      assignments: body.assignments.map((entry) => ({ memberId: entry.memberId, assignment: Buffer.from(entry.assignment) })),
    });
    return { assignment: result.assignment };
  } catch (error) {
    return { errorCode: groupErrorCode(context, error) };
  }
}

export async function handleHeartbeat(context: HandlerContext, body: RequestOf<typeof m.heartbeat>): Promise<ResponseInput<typeof m.heartbeat>> {
  try {
    await context.broker.heartbeat({ groupId: body.groupId, generationId: body.generationId, memberId: body.memberId, groupInstanceId: body.groupInstanceId });
    return {};
  } catch (error) {
    return { errorCode: groupErrorCode(context, error) };
  }
}

export async function handleLeaveGroup(context: HandlerContext, body: RequestOf<typeof m.leaveGroup>): Promise<ResponseInput<typeof m.leaveGroup>> {
  const leave = async (memberId: string, groupInstanceId: string | null = null): Promise<number> => {
    try {
      await context.broker.leaveGroup(body.groupId, memberId, groupInstanceId);
      return kafkaErrors.NONE;
    } catch (error) {
      return groupErrorCode(context, error);
    }
  };
  if (context.header.apiVersion < 3) return { errorCode: await leave(body.memberId) };
  const members = await Promise.all(
    body.members.map(async (member) => ({ ...member, errorCode: await leave(member.memberId, member.groupInstanceId) })),
  );
  return { members };
}

export function handleDescribeGroups(context: HandlerContext, body: RequestOf<typeof m.describeGroups>): ResponseInput<typeof m.describeGroups> {
  return {
    groups: body.groups.map((groupId) => {
      try {
        const group = context.broker.describeGroup(groupId);
        return {
          groupId,
          groupState: group.state,
          protocolType: group.protocolType,
          protocolData: group.protocolName,
          members: group.members.map((member) => ({
            memberId: member.memberId,
            groupInstanceId: member.groupInstanceId,
            clientId: member.clientId,
            clientHost: member.clientHost,
            memberMetadata: member.metadata,
            memberAssignment: Buffer.isBuffer(member.assignment) ? member.assignment : Buffer.alloc(0),
          })),
        };
      } catch (error) {
        // Kafka describes a group it does not know as Dead, without an error.
        if (isWeirError(error, 'UNKNOWN_GROUP')) return { groupId, groupState: 'Dead' };
        return { groupId, errorCode: groupErrorCode(context, error) };
      }
    }),
  };
}

export function handleListGroups(context: HandlerContext): ResponseInput<typeof m.listGroups> {
  return {
    groups: context.broker.listGroups().map((group) => ({ groupId: group.groupId, protocolType: group.protocolType })),
  };
}

/** Each group is deleted or refused alone: GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP (live members), INVALID_GROUP_ID. */
export async function handleDeleteGroups(context: HandlerContext, body: RequestOf<typeof m.deleteGroups>): Promise<ResponseInput<typeof m.deleteGroups>> {
  const results = [];
  for (const groupId of body.groupsNames) {
    try {
      await context.broker.deleteGroup(groupId);
      results.push({ groupId, errorCode: kafkaErrors.NONE });
    } catch (error) {
      results.push({ groupId, errorCode: errorCodeOf(context, error) });
    }
  }
  return { results };
}
