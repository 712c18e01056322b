import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startListeningBroker, type ListeningBroker } from './testing/listening-broker.js';

/** Short, so the test sees groups expire. */
const offsetsRetentionMs = 1_500;

test('a group without members is deleted once idle for offsetsRetentionMs, and stays deleted after a restart; one with members or recent commits stays', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weir-group-expiry-'));
  let running: ListeningBroker = await startListeningBroker(dataDir, { offsetsRetentionMs });
  try {
    const connection = () => running.connection;
    await connection().request('createTopic', { name: 'read', config: {} as never });
    const commit = (groupId: string, offset: bigint, member = { generationId: -1, memberId: '' }) =>
      connection().request('commitOffsets', { groupId, ...member, offsets: [{ topic: 'read', partition: 0, offset, metadata: null }] });
    const groupIds = async () => (await connection().request('listGroups', {})).map((group) => group.groupId).sort();

    await commit('committed-once', 0n);
    await commit('recent', 0n);
    const joined = await connection().request('joinGroup', { groupId: 'member', memberId: '', groupInstanceId: null, sessionTimeoutMs: 60_000, rebalanceTimeoutMs: 10_000, topics: ['read'] });
    await commit('member', 0n, { generationId: joined.generationId, memberId: joined.memberId });
    const left = await connection().request('joinGroup', { groupId: 'joined-and-left', memberId: '', groupInstanceId: null, sessionTimeoutMs: 60_000, rebalanceTimeoutMs: 10_000, topics: ['read'] });
    await connection().request('leaveGroup', { groupId: 'joined-and-left', memberId: left.memberId });
    assert.deepEqual(await groupIds(), ['committed-once', 'joined-and-left', 'member', 'recent']);

    // 'recent' keeps committing (from outside the group) while the others age.
    // The two idle ones age apart, so they may go in one sweep or in two.
    const deleted = (async () => {
      for (let count = 0; count < 2; ) count += Number(/deleted (\d+) groups/.exec(await running.logged(/deleted \d+ groups without members/, 4 * offsetsRetentionMs))![1]);
    })();
    const commits: Promise<unknown>[] = [];
    let offset = 0n;
    const keepCommitting = setInterval(() => commits.push(commit('recent', ++offset)), offsetsRetentionMs / 6);
    try {
      await deleted;
    } finally {
      clearInterval(keepCommitting);
      await Promise.all(commits);
    }
    assert.deepEqual(await groupIds(), ['member', 'recent']);
    assert.deepEqual(
      (await connection().request('fetchOffsets', { groupId: 'committed-once', partitions: undefined })).map((committed) => committed.offset),
      [],
      'the deleted group has no offsets',
    );

    await running.stop();
    running = await startListeningBroker(dataDir, { offsetsRetentionMs: 60_000 });
    assert.deepEqual(await groupIds(), ['member', 'recent'], 'the deleted groups stay deleted after a restart');
    assert.deepEqual((await connection().request('fetchOffsets', { groupId: 'recent', partitions: undefined })).map((committed) => committed.offset), [offset]);
  } finally {
    await running.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
