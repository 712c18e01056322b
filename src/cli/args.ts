/** Small helpers over node:util parseArgs for the `weir` commands. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { WeirError } from '../util/errors.js';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function integerOption(name: string, value: string | undefined, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  return integerIn(name, value, min, max, 'an integer');
}

/**
 * A limit flag: an integer from `min`, or `none` (also `-1`, as Kafka's configurations write it)
 * for no limit, which is null; undefined when the flag is absent.
 */
export function limitOption(name: string, value: string | undefined, min = 1): number | null | undefined {
  if (value === undefined) return undefined;
  if (value === 'none' || value === '-1') return null;
  return integerIn(name, value, min, Number.MAX_SAFE_INTEGER, '"none" or an integer');
}

function integerIn(name: string, value: string, min: number, max: number, expected: string): number {
  // Decimal digits only: Number() would also take "", " 5", "1e3" and "0x10".
  const parsed = /^-?\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
    throw new UsageError(`--${name} ${JSON.stringify(value)}: expected ${expected} from ${min} to ${max}`);
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
  const parsed = parseArgs({ ...config, args: joined, tokens: true });
  // parseArgs keeps the last of a flag given twice; two values for one setting is a mistake to name.
  const given = new Map<string, string>();
  for (const token of parsed.tokens ?? []) {
    if (token.kind !== 'option' || token.value === undefined || config.options?.[token.name]?.multiple === true) continue;
    const earlier = given.get(token.name);
    if (earlier !== undefined) throw new UsageError(`--${token.name} given twice (${JSON.stringify(earlier)}, then ${JSON.stringify(token.value)}): give it once`);
    given.set(token.name, token.value);
  }
  return parsed as unknown as ReturnType<typeof parseArgs<T>>;
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
  let parsed: URL | null = null;
  try {
    parsed = new URL(url);
  } catch {
    // reported below
  }
  const port = parsed?.port ?? '';
  // Nothing but a host and a port: a path, a query or a user would otherwise be dropped unsaid.
  const extra = parsed !== null && (parsed.username !== '' || parsed.password !== '' || !['', '/'].includes(parsed.pathname) || parsed.search !== '' || parsed.hash !== '');
  if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535 || extra) {
    const from = value === undefined && serverFromEnvironment() !== undefined ? 'WEIR_SERVER' : '--server';
    const hint = /^[^[]*:.*:/.test(text.replace(/^weirs?:\/\//, '')) ? ' (an IPv6 address goes in brackets: [::1]:7400)' : '';
    throw new UsageError(`${from} ${JSON.stringify(text)}: expected HOST:PORT with a port from 1 to 65535, or weir://HOST:PORT${hint}`);
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

/** The largest offset a log can hold: offsets are signed 64-bit on the wire. */
export const offsetMax = 2n ** 63n - 1n;

/** Where a consumer starts: `earliest`, `latest`, an offset, or an ISO-8601 time. */
export function startPositionOption(value: string | undefined, name = 'from'): 'earliest' | 'latest' | bigint | Date | undefined {
  if (value === undefined || value === 'earliest' || value === 'latest') return value;
  if (/^\d+$/.test(value)) {
    const offset = BigInt(value);
    if (offset > offsetMax) throw new UsageError(`--${name} ${JSON.stringify(value)}: an offset is at most ${offsetMax}`);
    return offset;
  }
  const time = isoTime(value);
  if (time === 'no zone') {
    throw new UsageError(`--${name} ${JSON.stringify(value)}: a time needs its zone, Z (UTC) or an offset such as +01:00`);
  }
  if (time !== null) return time;
  throw new UsageError(`--${name} ${JSON.stringify(value)}: expected earliest, latest, an offset or an ISO-8601 time such as 2026-11-23T10:00:00Z`);
}

/**
 * `YYYY-MM-DD` (midnight UTC) or `YYYY-MM-DDTHH:MM[:SS[.fraction]]` with `Z` or `±HH:MM`. A time
 * without a zone is refused rather than read as the machine's local time. Dates that do not exist
 * (February 30) are refused: Date would roll them over into the next month.
 */
function isoTime(text: string): Date | 'no zone' | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?)?$/i.exec(text);
  if (match === null) return null;
  const [, year, month, day, hour = '0', minute = '0', second = '0', fraction = '', zone] = match;
  if (match[4] !== undefined && zone === undefined) return 'no zone';
  const fields = [Number(year), Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second)] as const;
  const utc = new Date(Date.UTC(...fields, Number(fraction.padEnd(3, '0').slice(0, 3))));
  utc.setUTCFullYear(fields[0]); // Date.UTC reads years 0-99 as 1900-1999
  const exists = utc.getUTCMonth() === fields[1] && utc.getUTCDate() === fields[2] && utc.getUTCHours() === fields[3] && utc.getUTCMinutes() === fields[4] && utc.getUTCSeconds() === fields[5];
  if (!exists) return null;
  if (zone === undefined || zone.toUpperCase() === 'Z') return utc;
  const offset = /^([+-])(\d{2}):?(\d{2})$/.exec(zone)!;
  const offsetMinutes = (offset[1] === '-' ? -1 : 1) * (Number(offset[2]) * 60 + Number(offset[3]));
  if (Number(offset[2]) > 23 || Number(offset[3]) > 59) return null;
  return new Date(utc.getTime() - offsetMinutes * 60_000);
}
