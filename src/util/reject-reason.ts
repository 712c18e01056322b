/**
 * The rule for a queue reject's reason, one for every protocol: the broker enforces it on each
 * reject (src/broker/queue/queue-subscription.ts), and the HTTP API and the TypeScript client check
 * it first too, so that a refused reject changes nothing (HTTP refuses the whole request with 400;
 * the client leaves the message in hand, to be settled again). It sits here, below the broker, so
 * that the client, which may not import the broker, checks the same rule.
 */
import { WeirError } from './errors.js';
import { headOfText } from './text.js';

/** Characters (UTF-16 code units) of a reject's reason that its dead letter keeps, after `rejected: `. */
export const rejectReasonCharsMax = 1_000;

/**
 * The reason as the dead letter keeps it: its first rejectReasonCharsMax characters, one fewer
 * rather than half of a surrogate pair. A longer reason is cut, not refused: it only explains, and
 * a reject should not fail over it. A reason whose kept part is empty or only white space is
 * refused with INVALID_REQUEST: it is what a person reads to decide whether to replay the letter.
 */
export function rejectReasonKept(reason: string): string {
  const kept = headOfText(reason, rejectReasonCharsMax);
  if (kept.trim() !== '') return kept;
  const what = reason === '' ? 'it is empty' : kept.length < reason.length ? `its first ${rejectReasonCharsMax} characters, which the dead letter keeps, are white space` : 'it is only white space';
  throw new WeirError('INVALID_REQUEST', `a reject's reason must say why the message is rejected: ${what}`);
}
