/**
 * Broker descriptions as JSON: bigints become numbers (in toJson), Buffers become UTF-8 or base64
 * text. TopicDescription and SubscriptionDescription carry no Buffers and pass through unchanged.
 */
import type { DeadLetter, GroupDescription } from '../../broker/types.js';
import { bytesText, headersJson, type Encoding } from './message-json.js';

export function groupJson(group: GroupDescription): unknown {
  return {
    ...group,
    members: group.members.map((member) => ({
      ...member,
      assignment: Buffer.isBuffer(member.assignment) ? member.assignment.toString('base64') : member.assignment,
    })),
  };
}

export function deadLetterJson(letter: DeadLetter, encoding: Encoding): unknown {
  return {
    ...letter,
    key: bytesText(letter.key, encoding),
    value: bytesText(letter.value, encoding),
    headers: headersJson(letter.headers, encoding),
  };
}
