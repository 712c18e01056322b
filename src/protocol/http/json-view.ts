/**
 * Broker descriptions as JSON: bigints become numbers (in toJson), Buffers become UTF-8 or base64
 * text. TopicDescription and SubscriptionDescription carry no Buffers and pass through unchanged.
 */
import type { DeadLetter, GroupDescription } from '../../broker/types.js';
import { recordJson, type Encoding, type MessageJson } from './message-json.js';

export function groupJson(group: GroupDescription): unknown {
  return {
    ...group,
    // The protocol metadata stays out of the JSON view: it is the client's own bytes (a Kafka
    // consumer's subscription), which the view has never shown.
    members: group.members.map(({ metadata: _metadata, ...member }) => ({
      ...member,
      assignment: Buffer.isBuffer(member.assignment) ? member.assignment.toString('base64') : member.assignment,
    })),
  };
}

/** A dead letter: the message as every other message view shows it (message-json.ts), then where it came from and why. */
export interface DeadLetterJson extends MessageJson {
  deliveryCount: number;
  originalTopic: string;
  originalPartition: number;
  originalOffset: bigint;
  subscription: string;
  reason: string;
  deadLetteredAtMs: number;
}

export function deadLetterJson(letter: DeadLetter, encoding: Encoding): DeadLetterJson {
  const { partition, offset, timestampMs, key, value, headers } = letter;
  return {
    ...recordJson(partition, { offset, timestamp: timestampMs, key, value, headers }, encoding),
    deliveryCount: letter.deliveryCount,
    originalTopic: letter.originalTopic,
    originalPartition: letter.originalPartition,
    originalOffset: letter.originalOffset,
    subscription: letter.subscription,
    reason: letter.reason,
    deadLetteredAtMs: letter.deadLetteredAtMs,
  };
}
