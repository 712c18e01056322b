/** Small helpers over node:util parseArgs for the `weir` commands. */
import { WeirError } from '../util/errors.js';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function integerOption(name: string, value: string | undefined, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
    throw new UsageError(`--${name} ${JSON.stringify(value)}: expected an integer from ${min} to ${max}`);
  }
  return parsed;
}

/** Parses `host:port` (or `weir://host:port`) as used by --server and WEIR_SERVER. */
export function serverAddress(value: string | undefined): string {
  const text = value ?? process.env['WEIR_SERVER'] ?? '127.0.0.1:7400';
  return text.startsWith('weir://') ? text : `weir://${text}`;
}

/** Formats an error for a person: WeirErrors with their code, usage errors plainly. */
export function describeError(error: unknown): string {
  if (error instanceof WeirError) return `${error.code}: ${error.message}`;
  if (error instanceof Error) return error.message;
  return String(error);
}
