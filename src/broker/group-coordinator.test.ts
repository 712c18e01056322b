import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isWeirError } from '../util/errors.js';
import { GroupCoordinator, weirMetadata } from './group-coordinator.js';
import type { JoinGroupRequest } from './types.js';

const partitionCounts: Record<string, number> = { orders: 6, audit: 1 };

function coordinator(): GroupCoordinator {
  return new GroupCoordinator((topic) => partitionCounts[topic]);
}

function weirJoin(groupId: string, memberId = '', topics = ['orders'], sessionTimeoutMs = 10_000): JoinGroupRequest {
  return {
    groupId,
    memberId,
    clientId: 'test',
    clientHost: '127.0.0.1',
    sessionTimeoutMs,
    rebalanceTimeoutMs: 5_000,
    protocolType: 'weir',
    protocols: [{ name: 'range', metadata: weirMetadata(topics) }],
  };
}

function partitionsOf(result: { assignment?: { topic: string; partitions: number[] }[] }): number[] {
  return (result.assignment ?? []).flatMap((a) => a.partitions);
}

test('broker-assigned group: one member gets every partition, a second splits them', async () => {
  const groups = coordinator();
  const first = await groups.join(weirJoin('g'));
  assert.deepEqual(partitionsOf(first), [0, 1, 2, 3, 4, 5]);
  assert.equal(first.generationId, 1);

  // A second member triggers a rebalance; the first learns of it on heartbeat and rejoins.
  const secondJoin = groups.join(weirJoin('g'));
  assert.throws(() => groups.heartbeat({ groupId: 'g', generationId: 1, memberId: first.memberId }), (e) => isWeirError(e, 'REBALANCE_IN_PROGRESS'));
  const [again, second] = await Promise.all([groups.join(weirJoin('g', first.memberId)), secondJoin]);
  assert.equal(again.generationId, 2);
  assert.equal(second.generationId, 2);
  const all = [...partitionsOf(again), ...partitionsOf(second)].sort();
  assert.deepEqual(all, [0, 1, 2, 3, 4, 5]);
  assert.equal(partitionsOf(again).length, 3);

  // The stale generation is fenced out of committing.
  assert.throws(() => groups.checkCommit({ groupId: 'g', generationId: 1, memberId: first.memberId }), (e) => isWeirError(e, 'ILLEGAL_GENERATION'));
  groups.checkCommit({ groupId: 'g', generationId: 2, memberId: first.memberId });

  // The second leaves: the first rejoins and gets everything back.
  groups.leave('g', second.memberId);
  const alone = await groups.join(weirJoin('g', first.memberId));
  assert.equal(alone.generationId, 3);
  assert.deepEqual(partitionsOf(alone), [0, 1, 2, 3, 4, 5]);
  groups.close();
});

test('client-assigned group: the leader gets the members, followers receive its assignment', async () => {
  const groups = coordinator();
  const kafkaJoin = (memberId: string): JoinGroupRequest => ({
    ...weirJoin('k', memberId),
    protocolType: 'consumer',
    protocols: [{ name: 'roundrobin', metadata: Buffer.from([1, 2, 3]) }],
  });
  const leader = await groups.join(kafkaJoin(''));
  assert.equal(leader.leaderId, leader.memberId);
  assert.equal(leader.members.length, 1);
  const followerJoin = groups.join(kafkaJoin(''));
  const leaderAgain = await groups.join(kafkaJoin(leader.memberId));
  const follower = await followerJoin;
  assert.equal(leaderAgain.members.length, 2);
  assert.equal(follower.members.length, 0);
  assert.equal(follower.protocolName, 'roundrobin');

  const followerSync = groups.sync({ groupId: 'k', generationId: follower.generationId, memberId: follower.memberId }, []);
  const leaderSync = await groups.sync({ groupId: 'k', generationId: leaderAgain.generationId, memberId: leader.memberId }, [
    { memberId: leader.memberId, assignment: Buffer.from('L') },
    { memberId: follower.memberId, assignment: Buffer.from('F') },
  ]);
  assert.equal(leaderSync.assignment.toString(), 'L');
  assert.equal((await followerSync).assignment.toString(), 'F');
  assert.equal(groups.describe('k')?.state, 'Stable');
  groups.close();
});

test('a member that stops heartbeating is removed after its session timeout', async () => {
  const groups = coordinator();
  const first = await groups.join(weirJoin('s', '', ['orders'], 1_000));
  const secondJoin = groups.join(weirJoin('s', '', ['orders'], 1_000));
  await groups.join(weirJoin('s', first.memberId, ['orders'], 1_000));
  const second = await secondJoin;
  assert.equal(groups.describe('s')?.members.length, 2);
  // Only the second keeps heartbeating.
  const beat = setInterval(() => {
    try {
      groups.heartbeat({ groupId: 's', generationId: second.generationId, memberId: second.memberId });
    } catch {
      clearInterval(beat);
    }
  }, 200);
  await new Promise((r) => setTimeout(r, 1_500));
  clearInterval(beat);
  assert.equal(groups.describe('s')?.state, 'PreparingRebalance');
  const rejoined = await groups.join(weirJoin('s', second.memberId, ['orders'], 1_000));
  assert.deepEqual(partitionsOf(rejoined), [0, 1, 2, 3, 4, 5]);
  assert.equal(groups.describe('s')?.members.length, 1);
  groups.close();
});

test('unknown members and bad requests get specific errors', async () => {
  const groups = coordinator();
  assert.throws(() => groups.heartbeat({ groupId: 'x', generationId: 1, memberId: 'nobody' }), (e) => isWeirError(e, 'UNKNOWN_MEMBER'));
  assert.throws(() => groups.join({ ...weirJoin('x'), sessionTimeoutMs: 10 }), (e) => isWeirError(e, 'INVALID_SESSION_TIMEOUT'));
  assert.throws(() => groups.join(weirJoin('')), (e) => isWeirError(e, 'INVALID_GROUP_ID'));
  assert.throws(() => groups.join(weirJoin('x', 'ghost')), (e) => isWeirError(e, 'UNKNOWN_MEMBER'));
  groups.close();
});

test('static membership: a join with a held group instance id replaces the member at once and fences the old id', async () => {
  const groups = coordinator();
  const kafkaJoin = (memberId: string, instance: string | null): JoinGroupRequest => ({
    ...weirJoin('st', memberId),
    groupInstanceId: instance,
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: Buffer.from('m') }],
  });
  const leader = await groups.join(kafkaJoin('', 'a'));
  const followerJoin = groups.join(kafkaJoin('', 'b'));
  const leaderAgain = await groups.join(kafkaJoin(leader.memberId, 'a'));
  const follower = await followerJoin;
  const followerSync = groups.sync({ groupId: 'st', generationId: follower.generationId, memberId: follower.memberId }, []);
  await groups.sync({ groupId: 'st', generationId: leaderAgain.generationId, memberId: leader.memberId }, [
    { memberId: leader.memberId, assignment: Buffer.from('A') },
    { memberId: follower.memberId, assignment: Buffer.from('B') },
  ]);
  await followerSync;
  const generation = leaderAgain.generationId;

  // The follower's process restarts: its new join (no member id) takes over without a rebalance.
  const restarted = await groups.join(kafkaJoin('', 'b'));
  assert.notEqual(restarted.memberId, follower.memberId);
  assert.equal(restarted.generationId, generation);
  assert.equal(groups.describe('st')?.state, 'Stable');
  const synced = await groups.sync({ groupId: 'st', generationId: generation, memberId: restarted.memberId, groupInstanceId: 'b' }, []);
  assert.equal(synced.assignment.toString(), 'B', 'the assignment carries over');
  assert.throws(
    () => groups.heartbeat({ groupId: 'st', generationId: generation, memberId: follower.memberId, groupInstanceId: 'b' }),
    (e) => isWeirError(e, 'FENCED_INSTANCE_ID'),
  );
  assert.throws(() => groups.heartbeat({ groupId: 'st', generationId: generation, memberId: follower.memberId }), (e) => isWeirError(e, 'UNKNOWN_MEMBER'));
  assert.equal(groups.describe('st')?.members.length, 2);

  // The leader's replacement must assign again: the group rebalances, with it as leader.
  const leaderRestarted = groups.join(kafkaJoin('', 'a'));
  assert.equal(groups.describe('st')?.state, 'PreparingRebalance');
  const rejoined = await groups.join(kafkaJoin(restarted.memberId, 'b'));
  const newLeader = await leaderRestarted;
  assert.equal(newLeader.leaderId, newLeader.memberId);
  assert.equal(rejoined.generationId, generation + 1);
  assert.equal(newLeader.members.length, 2);

  // A static member leaves by its instance id alone.
  groups.leave('st', '', 'b');
  assert.deepEqual(groups.describe('st')?.members.map((m) => m.groupInstanceId), ['a']);
  groups.close();
});
