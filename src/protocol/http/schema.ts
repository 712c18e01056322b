/**
 * Small hand-written validators for request bodies and query strings. Each names the field's path
 * (`messages[3].key`) and what was expected, as an INVALID_REQUEST error (a 400).
 */
import { WeirError } from '../../util/errors.js';

export function invalid(path: string, expected: string, value?: unknown): never {
  const shown = value === undefined ? '' : `, got ${describe(value)}`;
  throw new WeirError('INVALID_REQUEST', `${path}: expected ${expected}${shown}`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (typeof value === 'object') return 'an object';
  return String(value);
}

export function plainObject(value: unknown, path: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) invalid(path, 'an object', value);
  return value as Record<string, unknown>;
}

/** A plain object whose keys are all in `allowed`. */
export function objectWith(value: unknown, path: string, allowed: readonly string[]): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) invalid(path, 'an object', value);
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) invalid(path, `only the fields ${allowed.join(', ')}; "${key}" is unknown`);
  }
  return value as Record<string, unknown>;
}

export function arrayOf(value: unknown, path: string, lengthMin: number, lengthMax: number): unknown[] {
  if (!Array.isArray(value)) invalid(path, `an array of ${lengthMin} to ${lengthMax} items`, value);
  if (value.length < lengthMin || value.length > lengthMax) {
    invalid(path, `an array of ${lengthMin} to ${lengthMax} items (the limit), got ${value.length}`);
  }
  return value;
}

export function integerIn(value: unknown, path: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    invalid(path, `an integer from ${min} to ${max}`, value);
  }
  return value;
}

export function stringOf(value: unknown, path: string, lengthMax: number): string {
  if (typeof value !== 'string') invalid(path, 'a string', value);
  if (value.length > lengthMax) invalid(path, `a string of at most ${lengthMax} characters, got ${value.length}`);
  return wellFormed(value, path);
}

/** Under the u flag a surrogate pair is one code point, so this matches only a lone surrogate. */
const loneSurrogate = /\p{Surrogate}/u;

/**
 * Text that is stored as UTF-8. JSON may escape a lone UTF-16 surrogate (`"\ud800"`), which UTF-8
 * cannot carry: encoding would store U+FFFD instead, altered and colliding with other such text.
 */
export function wellFormed(value: string, path: string): string {
  if (loneSurrogate.test(value)) invalid(path, 'well-formed Unicode text (a lone UTF-16 surrogate such as \\ud800 cannot be stored as UTF-8)');
  return value;
}

export function oneOf<T extends string>(value: unknown, path: string, choices: readonly T[]): T {
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) invalid(path, `one of ${choices.join(', ')}`, value);
  return value as T;
}

/** A query-string integer (absent → `fallback`). */
export function queryInteger(params: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const text = params.get(name);
  if (text === null || text === '') return fallback;
  if (!/^-?\d{1,16}$/.test(text)) invalid(`query parameter ${name}`, `an integer from ${min} to ${max}`, text);
  return integerIn(Number(text), `query parameter ${name}`, min, max);
}

/** A query-string offset (a non-negative integer, kept exact as a bigint). */
export function queryOffset(params: URLSearchParams, name: string): bigint | null {
  const text = params.get(name);
  if (text === null || text === '') return null;
  if (!/^\d{1,19}$/.test(text) || BigInt(text) > 0x7fff_ffff_ffff_ffffn) invalid(`query parameter ${name}`, 'a non-negative 64-bit integer', text);
  return BigInt(text);
}

export function queryChoice<T extends string>(params: URLSearchParams, name: string, choices: readonly T[], fallback: T): T {
  const text = params.get(name);
  if (text === null || text === '') return fallback;
  return oneOf(text, `query parameter ${name}`, choices);
}
