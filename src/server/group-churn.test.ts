/**
 * Consumer group churn end to end: members join, leave cleanly and are SIGKILLed while a producer
 * writes. No message may be lost. Duplicates are allowed only inside the documented window:
 * messages a member handled after its last commit and before it was killed (auto-commit
 * interval), which are delivered again to the member that takes over the partition.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { connect } from '../client/index.js';
import { startBrokerProcess } from './testing/broker-process.js';

const memberScript = join(dirname(fileURLToPath(import.meta.url)), 'testing', 'group-member.js');
const messages = 20_000;
const partitions = 6;

interface Member {
  name: string;
  child: ChildProcess;
  /** Where the member logs the messages it handles (see group-member.ts). */
  logFile: string;
  killed: boolean;
}

function startMember(name: string, url: string, dataDir: string): Promise<Member> {
  const logFile = join(dataDir, `member-${name}.log`);
  const child = spawn(process.execPath, [memberScript, url, 'churn', 'events', logFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  const member: Member = { name, child, logFile, killed: false };
  return new Promise((resolve) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve(member);
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('group churn: members join, leave and are killed while consuming; nothing is lost', { timeout: 120_000 }, async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weir-churn-'));
  const broker = await startBrokerProcess(dataDir);
  const members: Member[] = [];
  try {
    const client = await connect(broker.url);
    const admin = client.admin();
    await admin.createTopic('events', { partitions });
    for (const name of ['a', 'b', 'c']) members.push(await startMember(name, broker.url, dataDir));

    const producer = client.producer();
    const producing = (async () => {
      for (let i = 0; i < messages; i += 200) {
        await Promise.all(Array.from({ length: 200 }, (_, k) => producer.send('events', { key: `k${(i + k) % 64}`, value: `m${i + k}` })));
        await sleep(50);
      }
    })();

    const byName = (name: string) => members.find((m) => m.name === name)!;
    await sleep(1_000);
    byName('a').killed = true;
    byName('a').child.kill('SIGKILL');
    members.push(await startMember('d', broker.url, dataDir));
    await sleep(1_000);
    byName('b').child.kill('SIGTERM'); // a clean leave: commits, then leaves the group
    await exited(byName('b').child);
    members.push(await startMember('e', broker.url, dataDir));
    await sleep(1_000);
    byName('c').killed = true;
    byName('c').child.kill('SIGKILL');
    await producing;

    // Wait until the survivors have committed everything.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const group = await admin.describeGroup('churn');
      const lag = group.offsets.reduce((sum, o) => sum + o.lag, 0n);
      if (group.offsets.length === partitions && lag === 0n) break;
      assert.ok(Date.now() < deadline, `group still lags by ${lag} after 60 s`);
      await sleep(200);
    }
    for (const member of members) member.child.kill('SIGTERM');
    await Promise.all(members.map((m) => exited(m.child)));
    await client.close();

    const seenBy = new Map<string, string[]>();
    for (const member of members) {
      for (const line of (await readFile(member.logFile, 'utf8')).split('\n')) {
        if (line === '') continue;
        const value = line.split(' ')[2]!;
        seenBy.set(value, [...(seenBy.get(value) ?? []), member.name]);
      }
    }
    const missing = Array.from({ length: messages }, (_, i) => `m${i}`).filter((v) => !seenBy.has(v));
    assert.deepEqual(missing.slice(0, 10), [], `${missing.length} messages were never delivered`);
    const duplicates = [...seenBy].filter(([, names]) => names.length > 1);
    const killed = new Set(members.filter((m) => m.killed).map((m) => m.name));
    const outsideWindow = duplicates.filter(([, names]) => !names.some((n) => killed.has(n)));
    t.diagnostic(`${messages} messages, ${duplicates.length} delivered twice (all involving a killed member: ${outsideWindow.length === 0})`);
    assert.deepEqual(outsideWindow.slice(0, 5), [], 'a duplicate arose without a member being killed (clean leaves and rebalances must commit first)');
  } finally {
    for (const member of members) member.child.kill('SIGKILL');
    await broker.stop('SIGTERM');
    await rm(dataDir, { recursive: true, force: true });
  }
});
