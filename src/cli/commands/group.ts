/**
 * `weir group list | describe G | delete G | reset-offsets G`: consumer groups, their members,
 * committed offsets and lag, and moving an idle group's offsets.
 */
import type { GroupDescription, OffsetReset, OffsetResetTarget } from '../../client/index.js';
import { integerOption, parseCommandLine, positionalArguments, serverOptionSpec, startPositionOption, UsageError } from '../args.js';
import { connectBroker } from '../broker-client.js';
import { formatTable, toJson } from '../table.js';

export const groupUsage = `weir group list [--json]             every consumer group with its state
weir group describe G [--json]       members with their assignment, committed offsets, lag
weir group delete G                  forgets the group and its committed offsets (it must have no live members)
weir group reset-offsets G --topic T (--to POSITION | --shift-by N) [--partition P]... [--dry-run] [--json]
                                     moves the committed offsets of a group without live members
  --to POSITION             earliest | latest | OFFSET | ISO-8601 time (the first message at or after it)
  --shift-by N              moves each committed offset by N (negative: back)
  --partition P             only this partition (repeatable; default: every partition of the topic)
  --dry-run                 prints the new offsets and commits nothing
  --server HOST:PORT        broker address (default: $WEIR_SERVER, else 127.0.0.1:7400)`;

export async function group(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  if (action === 'list') return list(rest);
  if (action === 'describe') return describe(rest);
  if (action === 'delete') return remove(rest);
  if (action === 'reset-offsets') return resetOffsets(rest);
  throw new UsageError(action === undefined ? 'missing the action (list, describe, delete, reset-offsets)' : `unknown action ${JSON.stringify(action)}`);
}

async function list(argv: string[]): Promise<number> {
  const { values } = parseCommandLine({ args: argv, options: { ...serverOptionSpec, json: { type: 'boolean' } }, strict: true });
  const client = await connectBroker(values.server);
  try {
    const groups = (await client.admin().listGroups()).sort((a, b) => a.groupId.localeCompare(b.groupId));
    if (values.json) for (const g of groups) process.stdout.write(`${toJson(g)}\n`);
    else process.stdout.write(`${formatTable(['GROUP', 'STATE', 'PROTOCOL-TYPE'], groups.map((g) => [g.groupId, g.state, g.protocolType || null]))}\n`);
    return 0;
  } finally {
    await client.close();
  }
}

async function describe(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine({ args: argv, options: { ...serverOptionSpec, json: { type: 'boolean' } }, allowPositionals: true, strict: true });
  const [groupId] = positionalArguments(positionals, ['GROUP']);
  const client = await connectBroker(values.server);
  try {
    const description = await client.admin().describeGroup(groupId!);
    process.stdout.write(`${values.json ? toJson(jsonView(description)) : formatGroup(description)}\n`);
    return 0;
  } finally {
    await client.close();
  }
}

async function remove(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine({ args: argv, options: serverOptionSpec, allowPositionals: true, strict: true });
  const [groupId] = positionalArguments(positionals, ['GROUP']);
  const client = await connectBroker(values.server);
  try {
    await client.admin().deleteGroup(groupId!);
    process.stdout.write(`deleted group ${groupId}\n`);
    return 0;
  } finally {
    await client.close();
  }
}

/**
 * The broker works every new offset out before committing any, then commits them in one write: a
 * reset that cannot be done for one partition changes none. It refuses a group with live members
 * (their own commits would overwrite the reset).
 */
async function resetOffsets(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine({
    args: argv,
    options: {
      ...serverOptionSpec,
      topic: { type: 'string' },
      partition: { type: 'string', multiple: true },
      to: { type: 'string' },
      'shift-by': { type: 'string' },
      'dry-run': { type: 'boolean' },
      json: { type: 'boolean' },
    },
    allowPositionals: true,
    strict: true,
  });
  const [groupId] = positionalArguments(positionals, ['GROUP']);
  const topic = values.topic;
  if (topic === undefined) throw new UsageError('missing --topic');
  if ((values.to === undefined) === (values['shift-by'] === undefined)) throw new UsageError('give exactly one of --to and --shift-by');
  const target: OffsetResetTarget = values.to === undefined
    ? { shiftBy: BigInt(integerOption('shift-by', values['shift-by']!, 0, Number.MIN_SAFE_INTEGER)) }
    : { to: startPositionOption(values.to, 'to')! };
  const partitions = values.partition?.map((text) => integerOption('partition', text, 0));
  const dryRun = values['dry-run'] === true;

  const client = await connectBroker(values.server);
  try {
    const resets = await client.admin().resetOffsets(groupId!, topic, target, { partitions, dryRun });
    printResets(groupId!, topic, resets, { dryRun, json: values.json === true });
    return 0;
  } finally {
    await client.close();
  }
}

function printResets(groupId: string, topic: string, resets: OffsetReset[], options: { dryRun: boolean; json: boolean }): void {
  if (options.json) {
    for (const r of resets) process.stdout.write(`${toJson({ groupId, topic, partition: r.partition, previous: r.previous, offset: r.offset, note: r.note, dryRun: options.dryRun })}\n`);
    return;
  }
  process.stdout.write(`${formatTable(['TOPIC', 'PARTITION', 'PREVIOUS', 'NEW', 'NOTE'], resets.map((r) => [topic, r.partition, r.previous, r.offset, r.note]))}\n`);
  const count = `${resets.length} offset${resets.length === 1 ? '' : 's'}`;
  process.stdout.write(options.dryRun ? `dry run: group ${groupId} would commit ${count}; nothing changed\n` : `reset ${count} of group ${groupId}\n`);
}

function assignmentText(assignment: GroupDescription['members'][number]['assignment']): string {
  if (Buffer.isBuffer(assignment)) return assignment.length === 0 ? '-' : `(${assignment.length} bytes, client-encoded)`;
  return assignment.map((t) => `${t.topic}[${t.partitions.join(',')}]`).join(' ') || '-';
}

export function formatGroup(d: GroupDescription): string {
  const totalLag = d.offsets.reduce((sum, o) => sum + (o.lag > 0n ? o.lag : 0n), 0n);
  const lines = [
    `group       ${d.groupId}`,
    `state       ${d.state}${d.generationId >= 0 ? ` (generation ${d.generationId})` : ''}`,
    `protocol    ${d.protocolType || '-'}${d.protocolName ? `/${d.protocolName}` : ''}`,
    `members     ${d.members.length}`,
    `total lag   ${d.offsets.length === 0 ? '- (nothing committed)' : totalLag}`,
  ];
  if (d.members.length > 0) {
    lines.push('', formatTable(['MEMBER', 'CLIENT', 'HOST', 'ASSIGNMENT'], d.members.map((m) => [m.memberId, m.clientId, m.clientHost, assignmentText(m.assignment)])));
  }
  const owner = new Map<string, string>();
  for (const m of d.members) {
    if (Buffer.isBuffer(m.assignment)) continue;
    for (const t of m.assignment) for (const p of t.partitions) owner.set(`${t.topic}\u0000${p}`, m.memberId);
  }
  const offsets = [...d.offsets].sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
  lines.push(
    '',
    offsets.length === 0
      ? 'no committed offsets'
      : formatTable(
          ['TOPIC', 'PARTITION', 'COMMITTED', 'HIGH-WATERMARK', 'LAG', 'MEMBER'],
          offsets.map((o) => [o.topic, o.partition, o.offset, o.highWatermark < 0n ? null : o.highWatermark, o.lag < 0n ? null : o.lag, owner.get(`${o.topic}\u0000${o.partition}`) ?? null]),
        ),
  );
  return lines.join('\n');
}

function jsonView(d: GroupDescription): unknown {
  return {
    ...d,
    members: d.members.map((m) => ({ ...m, assignment: Buffer.isBuffer(m.assignment) ? m.assignment.toString('base64') : m.assignment })),
  };
}
