/** Small helpers over node:util parseArgs for the `weir` commands. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
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

/**
 * node:util parseArgs, except that a negative number after a string flag (`--max -5`) is that
 * flag's value, which the flag's own check then refuses by name; parseArgs itself refuses it as
 * an ambiguous argument. Anything else starting with `-` stays a flag.
 */
export function parseCommandLine<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  const args = config.args ?? [];
  const joined: string[] = [];
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    if (arg === '--') {
      joined.push(...args.slice(index));
      break;
    }
    const next = args[index + 1];
    const name = arg.startsWith('--') ? arg.slice(2) : '';
    if (next !== undefined && /^-\d/.test(next) && config.options?.[name]?.type === 'string') {
      joined.push(`${arg}=${next}`);
      index++;
    } else {
      joined.push(arg);
    }
  }
  return parseArgs({ ...config, args: joined }) as ReturnType<typeof parseArgs<T>>;
}

/** The WEIR_SERVER environment variable; empty counts as unset. */
function serverFromEnvironment(): string | undefined {
  const text = process.env['WEIR_SERVER'];
  return text === '' ? undefined : text;
}

/** Parses `host:port` (or `weir://host:port`, `weirs://host:port`) as used by --server and WEIR_SERVER. */
export function serverAddress(value: string | undefined): string {
  const text = value ?? serverFromEnvironment() ?? '127.0.0.1:7400';
  const url = /^weirs?:\/\//.test(text) ? text : `weir://${text}`;
  let port = '';
  try {
    port = new URL(url).port;
  } catch {
    // reported below
  }
  if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    const from = value === undefined && serverFromEnvironment() !== undefined ? 'WEIR_SERVER' : '--server';
    throw new UsageError(`${from} ${JSON.stringify(text)}: expected HOST:PORT with a port from 1 to 65535`);
  }
  return url;
}

/** Formats an error for a person: WeirErrors with their code, usage errors plainly. */
export function describeError(error: unknown): string {
  if (error instanceof WeirError) return `${error.code}: ${error.message}`;
  if (error instanceof Error) return error.message;
  return String(error);
}

/** The --server option every command that talks to a broker takes. */
export const serverOptionSpec = { server: { type: 'string' } } as const;

/** An integer flag that may be absent (undefined then). */
export function optionalIntegerOption(name: string, value: string | undefined, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  return value === undefined ? undefined : integerOption(name, value, 0, min, max);
}

/** One of a fixed set of words. */
export function choiceOption<T extends string>(name: string, value: string | undefined, choices: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!(choices as readonly string[]).includes(value)) {
    throw new UsageError(`--${name} ${JSON.stringify(value)}: expected one of ${choices.join(', ')}`);
  }
  return value as T;
}

/** Exactly `names.length` positional arguments, named for the error message. */
export function positionalArguments(positionals: string[], names: readonly string[]): string[] {
  if (positionals.length < names.length) throw new UsageError(`missing ${names.slice(positionals.length).join(' ')}`);
  if (positionals.length > names.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[names.length])}`);
  return positionals;
}

/** `k=v` pairs of a repeated flag such as --header; a pair without `=` has a null value. */
export function keyValueOptions(name: string, values: string[] | undefined): { key: string; value: string | null }[] {
  return (values ?? []).map((text) => {
    const equals = text.indexOf('=');
    if (equals === 0) throw new UsageError(`--${name} ${JSON.stringify(text)}: expected key=value`);
    return equals < 0 ? { key: text, value: null } : { key: text.slice(0, equals), value: text.slice(equals + 1) };
  });
}

/** Where a consumer starts: `earliest`, `latest`, an offset, or an ISO-8601 time. */
export function startPositionOption(value: string | undefined, name = 'from'): 'earliest' | 'latest' | bigint | Date | undefined {
  if (value === undefined || value === 'earliest' || value === 'latest') return value;
  if (/^\d+$/.test(value)) return BigInt(value);
  if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
    const time = new Date(value);
    if (!Number.isNaN(time.getTime())) return time;
  }
  throw new UsageError(`--${name} ${JSON.stringify(value)}: expected earliest, latest, an offset or an ISO-8601 time`);
}
