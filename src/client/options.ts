/**
 * Checks of the options applications pass to the client, its producers and its consumers. A value
 * out of range fails where it is given, with INVALID_CONFIG naming the option, the value and the
 * range, instead of hanging (a buffer of 0 bytes never has room, 0 credits never bring a message),
 * firing a timer at once (Node runs a delay past `timerDelayMsMax` after 1 ms) or failing later
 * as a request that cannot be encoded.
 */
import { WeirError } from '../util/errors.js';

/** The longest delay Node's timers take (2^31 - 1 ms, about 24.8 days). */
export const timerDelayMsMax = 2 ** 31 - 1;
/** The largest value of a uint32 field of the native protocol (credits, waits). */
export const uint32Max = 2 ** 32 - 1;
/** The largest value of an int32 field of the native protocol. */
export const int32Max = 2 ** 31 - 1;

export interface Range {
  /** Whose option it is, for the message: 'producer', 'consumer', … */
  owner: string;
  min: number;
  max: number;
}

/** `value` is an integer from `range.min` to `range.max`. */
export function checkInteger(name: string, value: unknown, range: Range): void {
  if (Number.isSafeInteger(value) && (value as number) >= range.min && (value as number) <= range.max) return;
  throw invalid(name, value, range.owner, `an integer from ${range.min} to ${range.max}`);
}

/** `value` is a finite number above 0 and at most `max`. */
export function checkPositive(name: string, value: unknown, range: Omit<Range, 'min'>): void {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0 && value <= range.max) return;
  throw invalid(name, value, range.owner, `a number above 0, at most ${range.max}`);
}

/** `value` is one of `allowed`. */
export function checkOneOf(name: string, value: unknown, allowed: { owner: string; values: readonly unknown[] }): void {
  if (allowed.values.includes(value)) return;
  throw invalid(name, value, allowed.owner, `one of ${allowed.values.map(String).join(', ')}`);
}

/** `value` is a string (`nonEmpty`: of at least one character). */
export function checkString(name: string, value: unknown, options: { owner: string; nonEmpty?: boolean }): void {
  if (typeof value === 'string' && (!options.nonEmpty || value.length > 0)) return;
  throw invalid(name, value, options.owner, options.nonEmpty ? 'a non-empty string' : 'a string');
}

/**
 * Every key of `value` is one of `known`: a misspelt option (`retentionMS`) is refused by name
 * instead of being dropped on the way to the broker.
 */
export function checkKnownKeys(value: object, known: readonly string[], options: { owner: string }): void {
  for (const name of Object.keys(value)) {
    if (known.includes(name)) continue;
    throw new WeirError('INVALID_CONFIG', `${options.owner} option ${JSON.stringify(name)} is unknown: expected one of ${known.join(', ')}`);
  }
}

function invalid(name: string, value: unknown, owner: string, expected: string): WeirError {
  return new WeirError('INVALID_CONFIG', `${owner} option ${name} ${describe(value)} is invalid: expected ${expected}`);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}
