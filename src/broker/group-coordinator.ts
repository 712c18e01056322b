/**
 * Stream subscriptions (consumer groups): membership, rebalancing and generations, with Kafka's
 * group state machine so that Kafka clients and the native client share one implementation.
 *
 *   Empty ──join──▶ PreparingRebalance ──all joined / rebalance timeout──▶ CompletingRebalance
 *     ▲                     ▲                                                   │ leader's sync
 *     └──last member gone───┴──────── member joins, leaves or expires ◀── Stable ◀┘
 *
 * Groups of protocol type 'weir' skip the client-side assignment: when the join completes the
 * coordinator spreads the partitions itself and the group goes straight to Stable.
 * A generation number fences members of an older generation out of syncing and committing.
 *
 * Static membership (Kafka's KIP-345): a join with a group instance id that a member already
 * holds replaces that member at once under a new member id, keeping its assignment; a Stable
 * group with unchanged protocols does not rebalance (unless the replaced member was the leader
 * of a client-assigned group, which must assign again). The replaced member id is fenced:
 * FENCED_INSTANCE_ID for its requests that name the instance. A request naming an instance id
 * that no member holds is UNKNOWN_MEMBER (but a join without a member id adds a static member).
 */
import { randomUUID } from 'node:crypto';
import { WeirError } from '../util/errors.js';
import type {
  GroupDescription,
  GroupMemberRef,
  GroupProtocol,
  GroupStateName,
  JoinGroupRequest,
  JoinGroupResult,
  TopicPartitions,
} from './types.js';

export const weirProtocolType = 'weir';
export const sessionTimeoutMsMin = 1_000;
export const sessionTimeoutMsMax = 1_800_000;
export const rebalanceTimeoutMsMax = 600_000;
export const groupMembersMax = 1_000;
export const groupIdBytesMax = 255;

interface Member {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocolType: string;
  protocols: GroupProtocol[];
  assignment: Buffer;
  decodedAssignment: TopicPartitions[] | null;
  sessionTimer: NodeJS.Timeout | null;
  joinWaiter: ((result: JoinGroupResult | WeirError) => void) | null;
  syncWaiter: ((result: Buffer | WeirError) => void) | null;
  /** Told once when the member leaves the group (see watchMember). */
  watchers: Set<(error: WeirError) => void>;
}

interface Group {
  groupId: string;
  state: GroupStateName;
  protocolType: string;
  protocolName: string;
  generationId: number;
  leaderId: string;
  members: Map<string, Member>;
  rebalanceTimer: NodeJS.Timeout | null;
  /** When the group was made or last lost its last member (ms since the epoch): an empty group expires from then. */
  emptySinceMs: number;
}

/** Partition counts the coordinator needs to spread partitions of broker-assigned groups. */
export type PartitionCounter = (topic: string) => number | undefined;

export class GroupCoordinator {
  readonly #groups = new Map<string, Group>();
  readonly #partitionCount: PartitionCounter;

  constructor(partitionCount: PartitionCounter) {
    this.#partitionCount = partitionCount;
  }

  /**
   * `signal` aborts when the join's connection closes: a member this join created (its client
   * never learnt the id, so cannot leave or heartbeat) then leaves at once, instead of being
   * given partitions that nobody reads until its session timeout.
   */
  join(request: JoinGroupRequest, options: { signal?: AbortSignal } = {}): Promise<JoinGroupResult> {
    validateGroupId(request.groupId);
    if (request.sessionTimeoutMs < sessionTimeoutMsMin || request.sessionTimeoutMs > sessionTimeoutMsMax) {
      throw new WeirError('INVALID_SESSION_TIMEOUT', `session timeout ${request.sessionTimeoutMs} ms is outside ${sessionTimeoutMsMin}..${sessionTimeoutMsMax} ms`);
    }
    if (request.protocols.length === 0) throw new WeirError('INCONSISTENT_GROUP_PROTOCOL', 'a join names at least one assignment protocol');
    const group = this.#groupFor(request.groupId, request.protocolType);
    if (group.state !== 'Empty' && group.protocolType !== request.protocolType) {
      throw new WeirError('INCONSISTENT_GROUP_PROTOCOL', `group ${group.groupId} uses protocol type ${group.protocolType}, not ${request.protocolType}`);
    }
    if (group.state !== 'Empty' && !request.protocols.some((p) => this.#protocolSupportedByAll(group, p.name, request.memberId))) {
      throw new WeirError('INCONSISTENT_GROUP_PROTOCOL', `group ${group.groupId}: none of the offered protocols is supported by every member`);
    }
    let member = request.memberId === '' ? undefined : this.#knownMember(group, request.memberId, request.groupInstanceId);
    const created = member === undefined;
    const previous = member === undefined ? this.#staticMember(group, request.groupInstanceId) : undefined;
    if (previous !== undefined) {
      member = this.#replaceStatic(group, previous, request);
      if (group.state === 'Stable' && sameProtocols(previous.protocols, request.protocols) && !this.#assignsForGroup(group, member)) {
        this.#touch(group, member);
        return Promise.resolve(this.#joinResult(group, member));
      }
    } else if (member === undefined) {
      if (group.members.size >= groupMembersMax) {
        throw new WeirError('LIMIT_EXCEEDED', `group ${group.groupId} has the maximum of ${groupMembersMax} members`);
      }
      member = newMember(request);
      group.members.set(member.memberId, member);
      group.protocolType = request.protocolType;
    } else if (group.state === 'Stable' && member.memberId !== group.leaderId && sameProtocols(member.protocols, request.protocols)) {
      // A follower rejoining with nothing changed gets the current generation, no rebalance.
      this.#touch(group, member);
      return Promise.resolve(this.#joinResult(group, member));
    } else {
      member.protocols = request.protocols;
      member.sessionTimeoutMs = request.sessionTimeoutMs;
      member.rebalanceTimeoutMs = Math.min(request.rebalanceTimeoutMs, rebalanceTimeoutMsMax);
    }
    const joined = member;
    const result = new Promise<JoinGroupResult>((resolve, reject) => {
      joined.joinWaiter?.(new WeirError('REBALANCE_IN_PROGRESS', 'superseded by a newer join of the same member'));
      joined.joinWaiter = (outcome) => (outcome instanceof WeirError ? reject(outcome) : resolve(outcome));
    });
    this.#stopSessionTimer(joined);
    if (group.state !== 'PreparingRebalance') this.#prepareRebalance(group);
    this.#maybeCompleteJoin(group);
    if (created && options.signal !== undefined) this.#leaveWhenAborted(group, joined, { signal: options.signal, answered: result });
    return result;
  }

  #leaveWhenAborted(group: Group, member: Member, { signal, answered }: { signal: AbortSignal; answered: Promise<JoinGroupResult> }): void {
    const onAbort = (): void => {
      // Still waiting for this join's answer: the member was never told its id.
      if (group.members.get(member.memberId) !== member || member.joinWaiter === null) return;
      this.#removeMember(group, member, 'lost its connection before its first join was answered');
    };
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    const forget = (): void => signal.removeEventListener('abort', onAbort);
    answered.then(forget, forget);
  }

  sync(ref: GroupMemberRef, assignments: { memberId: string; assignment: Buffer }[]): Promise<{ protocolName: string; assignment: Buffer }> {
    const { group, member } = this.#memberOf(ref);
    if (group.state === 'PreparingRebalance') {
      throw new WeirError('REBALANCE_IN_PROGRESS', `group ${group.groupId} is rebalancing; rejoin`);
    }
    this.#touch(group, member);
    if (group.state === 'Stable') return Promise.resolve({ protocolName: group.protocolName, assignment: member.assignment });
    // CompletingRebalance: the leader brings the assignment; everybody waits for it.
    const done = new Promise<{ protocolName: string; assignment: Buffer }>((resolve, reject) => {
      member.syncWaiter = (outcome) =>
        outcome instanceof WeirError ? reject(outcome) : resolve({ protocolName: group.protocolName, assignment: outcome });
    });
    if (member.memberId === group.leaderId) {
      for (const { memberId, assignment } of assignments) {
        const target = group.members.get(memberId);
        if (target !== undefined) target.assignment = assignment;
      }
      this.#becomeStable(group);
    }
    return done;
  }

  heartbeat(ref: GroupMemberRef): void {
    const { group, member } = this.#memberOf(ref);
    this.#touch(group, member);
    if (group.state === 'PreparingRebalance') {
      throw new WeirError('REBALANCE_IN_PROGRESS', `group ${group.groupId} is rebalancing; rejoin`);
    }
  }

  /** A member leaves, named by its member id, or (with an empty one) by its group instance id. */
  leave(groupId: string, memberId: string, groupInstanceId: string | null = null): void {
    const group = this.#groups.get(groupId);
    if (group === undefined) throw new WeirError('UNKNOWN_MEMBER', `member ${memberId} is not part of group ${groupId}`);
    const member = memberId === '' ? this.#staticMember(group, groupInstanceId) : this.#knownMember(group, memberId, groupInstanceId);
    if (member === undefined) {
      throw new WeirError('UNKNOWN_MEMBER', `member ${memberId || `with group instance id ${groupInstanceId}`} is not part of group ${groupId}`);
    }
    this.#removeMember(group, member, 'left the group');
  }

  /**
   * Checks that a commit may proceed: a member of the current generation, or (generation -1) any
   * commit while the group has no members. As in Kafka, generation -1 to a group with members is
   * refused as a commit from outside it (neither member id nor group instance id: UNKNOWN_MEMBER)
   * or, naming either, by the member checks: FENCED_INSTANCE_ID when another member id holds the
   * instance, UNKNOWN_MEMBER when no member does or the member is not in the group,
   * ILLEGAL_GENERATION for one that is.
   */
  checkCommit(ref: GroupMemberRef | { groupId: string }): void {
    validateGroupId(ref.groupId);
    const group = this.#groups.get(ref.groupId);
    if (!('memberId' in ref) || ref.generationId < 0) {
      const active = group !== undefined && group.members.size > 0 && group.state !== 'Empty';
      if (!active) return;
      const named = 'memberId' in ref && (ref.memberId !== '' || (ref.groupInstanceId ?? null) !== null);
      if (!named) throw new WeirError('UNKNOWN_MEMBER', `group ${ref.groupId} has active members; commit as one of them`);
    }
    const { group: current, member } = this.#memberOf(ref);
    // While a rebalance is being prepared the generation still stands: its members may commit what
    // they consumed before they rejoin (that is what keeps a rebalance free of duplicates).
    if (current.state === 'CompletingRebalance') {
      throw new WeirError('REBALANCE_IN_PROGRESS', `group ${ref.groupId} is rebalancing; rejoin before committing`);
    }
    this.#touch(current, member);
  }

  has(groupId: string): boolean {
    return this.#groups.has(groupId);
  }

  /** When the group last became empty; null while it has members, undefined for a group not known here. */
  emptySinceMs(groupId: string): number | null | undefined {
    const group = this.#groups.get(groupId);
    if (group === undefined) return undefined;
    return group.members.size > 0 ? null : group.emptySinceMs;
  }

  list(): { groupId: string; protocolType: string; state: GroupStateName }[] {
    return [...this.#groups.values()].map((g) => ({ groupId: g.groupId, protocolType: g.protocolType, state: g.state }));
  }

  /**
   * Calls `onGone` once when the member leaves the group (it left, missed its session timeout,
   * did not rejoin a rebalance, or was replaced under its group instance id); returns the function
   * that cancels the watch. UNKNOWN_MEMBER when it is not a member now.
   */
  watchMember(groupId: string, memberId: string, onGone: (error: WeirError) => void): () => void {
    const member = this.#groups.get(groupId)?.members.get(memberId);
    if (member === undefined) throw new WeirError('UNKNOWN_MEMBER', `${memberId} is not a member of group ${groupId}`);
    member.watchers.add(onGone);
    return () => member.watchers.delete(onGone);
  }

  describe(groupId: string): Omit<GroupDescription, 'offsets'> | undefined {
    const group = this.#groups.get(groupId);
    if (group === undefined) return undefined;
    return {
      groupId,
      state: group.state,
      protocolType: group.protocolType,
      protocolName: group.protocolName,
      generationId: group.generationId,
      members: [...group.members.values()].map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        metadata: protocolMetadata(m, group.protocolName),
        assignment: m.decodedAssignment ?? m.assignment,
      })),
    };
  }

  delete(groupId: string): void {
    const group = this.#groups.get(groupId);
    if (group === undefined) return;
    if (group.members.size > 0) throw new WeirError('GROUP_NOT_EMPTY', `group ${groupId} still has ${group.members.size} members`);
    this.#groups.delete(groupId);
  }

  /** Broker-assigned groups with a member subscribed to `topic` (Kafka clients' subscriptions are opaque). */
  groupsReading(topic: string): string[] {
    const reading = (group: Group): boolean => [...group.members.values()].some((m) => subscribedTopics(m).includes(topic));
    return [...this.#groups.values()].filter((group) => group.protocolType === weirProtocolType && reading(group)).map((group) => group.groupId);
  }

  /** Partitions of `topic` changed or the topic went away: rebalance groups that read it. */
  topicChanged(topic: string): void {
    for (const group of this.#groups.values()) {
      if (group.protocolType !== weirProtocolType || group.state !== 'Stable') continue;
      const reads = [...group.members.values()].some((m) => subscribedTopics(m).includes(topic));
      if (reads) this.#prepareRebalance(group);
    }
  }

  close(): void {
    for (const group of this.#groups.values()) {
      if (group.rebalanceTimer) clearTimeout(group.rebalanceTimer);
      for (const member of group.members.values()) {
        this.#stopSessionTimer(member);
        member.joinWaiter?.(new WeirError('SHUTTING_DOWN', 'the broker is shutting down'));
        member.syncWaiter?.(new WeirError('SHUTTING_DOWN', 'the broker is shutting down'));
      }
    }
    this.#groups.clear();
  }

  // ------------------------------------------------------------------------------------------

  #groupFor(groupId: string, protocolType: string): Group {
    let group = this.#groups.get(groupId);
    if (group === undefined) {
      group = { groupId, state: 'Empty', protocolType, protocolName: '', generationId: 0, leaderId: '', members: new Map(), rebalanceTimer: null, emptySinceMs: Date.now() };
      this.#groups.set(groupId, group);
    }
    return group;
  }

  #memberOf(ref: GroupMemberRef): { group: Group; member: Member } {
    const group = this.#groups.get(ref.groupId);
    if (group === undefined) throw new WeirError('UNKNOWN_MEMBER', `member ${ref.memberId} is not part of group ${ref.groupId}`);
    const member = this.#knownMember(group, ref.memberId, ref.groupInstanceId);
    if (ref.generationId !== group.generationId) {
      throw new WeirError('ILLEGAL_GENERATION', `generation ${ref.generationId} of group ${ref.groupId} is over; the current one is ${group.generationId}`);
    }
    return { group, member };
  }

  /**
   * The member with this id; UNKNOWN_MEMBER when there is none, FENCED_INSTANCE_ID when the
   * request names a group instance id that another member now holds (it replaced this one), and
   * UNKNOWN_MEMBER when it names one that no member holds (as Kafka).
   */
  #knownMember(group: Group, memberId: string, groupInstanceId: string | null | undefined): Member {
    const member = group.members.get(memberId);
    const holder = this.#staticMember(group, groupInstanceId);
    if (holder !== undefined && holder !== member) {
      throw new WeirError('FENCED_INSTANCE_ID', `member ${memberId} of group ${group.groupId} was replaced by member ${holder.memberId} with group instance id ${groupInstanceId}`);
    }
    if (member === undefined) throw new WeirError('UNKNOWN_MEMBER', `member ${memberId} is not part of group ${group.groupId}`);
    if (holder === undefined && (groupInstanceId ?? null) !== null) {
      throw new WeirError('UNKNOWN_MEMBER', `no member of group ${group.groupId} has group instance id ${groupInstanceId}`);
    }
    return member;
  }

  #staticMember(group: Group, groupInstanceId: string | null | undefined): Member | undefined {
    if (groupInstanceId === null || groupInstanceId === undefined) return undefined;
    for (const member of group.members.values()) if (member.groupInstanceId === groupInstanceId) return member;
    return undefined;
  }

  /** A new member id takes the place of the member holding the join's group instance id (see the file comment). */
  #replaceStatic(group: Group, previous: Member, request: JoinGroupRequest): Member {
    const fenced = new WeirError('FENCED_INSTANCE_ID', `member ${previous.memberId} of group ${group.groupId} was replaced by a new member with group instance id ${previous.groupInstanceId}`);
    previous.joinWaiter?.(fenced);
    previous.syncWaiter?.(fenced);
    this.#stopSessionTimer(previous);
    group.members.delete(previous.memberId);
    tellWatchers(previous, fenced);
    const member = newMember(request);
    member.assignment = previous.assignment;
    member.decodedAssignment = previous.decodedAssignment;
    group.members.set(member.memberId, member);
    if (group.leaderId === previous.memberId) group.leaderId = member.memberId;
    return member;
  }

  /** The member computes the group's assignment (the leader of a client-assigned group). */
  #assignsForGroup(group: Group, member: Member): boolean {
    return group.protocolType !== weirProtocolType && group.leaderId === member.memberId;
  }

  #protocolSupportedByAll(group: Group, name: string, except: string): boolean {
    for (const member of group.members.values()) {
      if (member.memberId !== except && !member.protocols.some((p) => p.name === name)) return false;
    }
    return true;
  }

  #prepareRebalance(group: Group): void {
    group.state = 'PreparingRebalance';
    for (const member of group.members.values()) {
      member.syncWaiter?.(new WeirError('REBALANCE_IN_PROGRESS', `group ${group.groupId} is rebalancing; rejoin`));
      member.syncWaiter = null;
    }
    if (group.rebalanceTimer) clearTimeout(group.rebalanceTimer);
    const timeoutMs = Math.max(0, ...[...group.members.values()].map((m) => m.rebalanceTimeoutMs));
    group.rebalanceTimer = setTimeout(() => this.#completeJoin(group), timeoutMs);
    group.rebalanceTimer.unref();
  }

  #maybeCompleteJoin(group: Group): void {
    for (const member of group.members.values()) if (member.joinWaiter === null) return;
    this.#completeJoin(group);
  }

  #completeJoin(group: Group): void {
    if (group.state !== 'PreparingRebalance') return;
    if (group.rebalanceTimer) clearTimeout(group.rebalanceTimer);
    group.rebalanceTimer = null;
    for (const member of [...group.members.values()]) {
      if (member.joinWaiter === null) this.#dropMember(group, member);
    }
    if (group.members.size === 0) {
      group.state = 'Empty';
      group.generationId++;
      group.emptySinceMs = Date.now();
      return;
    }
    group.generationId++;
    group.protocolName = this.#chooseProtocol(group);
    if (!group.members.has(group.leaderId)) group.leaderId = group.members.keys().next().value as string;
    if (group.protocolType === weirProtocolType) this.#assignByBroker(group);
    group.state = group.protocolType === weirProtocolType ? 'Stable' : 'CompletingRebalance';
    for (const member of group.members.values()) {
      const waiter = member.joinWaiter!;
      member.joinWaiter = null;
      this.#touch(group, member);
      waiter(this.#joinResult(group, member));
    }
  }

  #joinResult(group: Group, member: Member): JoinGroupResult {
    const isLeader = member.memberId === group.leaderId && group.protocolType !== weirProtocolType;
    return {
      generationId: group.generationId,
      protocolName: group.protocolName,
      leaderId: group.leaderId,
      memberId: member.memberId,
      members: isLeader
        ? [...group.members.values()].map((m) => ({
            memberId: m.memberId,
            groupInstanceId: m.groupInstanceId,
            metadata: protocolMetadata(m, group.protocolName),
          }))
        : [],
      ...(member.decodedAssignment ? { assignment: member.decodedAssignment } : {}),
    };
  }

  #chooseProtocol(group: Group): string {
    // The first protocol of the leader-to-be that every member supports (members list theirs in preference order).
    const first = group.members.values().next().value as Member;
    for (const protocol of first.protocols) {
      if (this.#protocolSupportedByAll(group, protocol.name, '')) return protocol.name;
    }
    return first.protocols[0]!.name;
  }

  /** Range assignment per topic over the members that subscribe to it, members in id order. */
  #assignByBroker(group: Group): void {
    const members = [...group.members.values()].sort((a, b) => (a.memberId < b.memberId ? -1 : 1));
    const assignment = new Map<Member, TopicPartitions[]>(members.map((m) => [m, []]));
    const topics = [...new Set(members.flatMap(subscribedTopics))].sort();
    for (const topic of topics) {
      const count = this.#partitionCount(topic) ?? 0;
      const readers = members.filter((m) => subscribedTopics(m).includes(topic));
      if (readers.length === 0 || count === 0) continue;
      const per = Math.floor(count / readers.length);
      const extra = count % readers.length;
      let next = 0;
      readers.forEach((reader, i) => {
        const take = per + (i < extra ? 1 : 0);
        if (take === 0) return;
        assignment.get(reader)!.push({ topic, partitions: Array.from({ length: take }, (_, k) => next + k) });
        next += take;
      });
    }
    for (const [member, partitions] of assignment) {
      member.decodedAssignment = partitions;
      member.assignment = Buffer.from(JSON.stringify(partitions));
    }
  }

  #becomeStable(group: Group): void {
    group.state = 'Stable';
    for (const member of group.members.values()) {
      const waiter = member.syncWaiter;
      member.syncWaiter = null;
      waiter?.(member.assignment);
    }
  }

  #touch(group: Group, member: Member): void {
    this.#stopSessionTimer(member);
    member.sessionTimer = setTimeout(() => {
      member.sessionTimer = null;
      if (group.members.get(member.memberId) === member && member.joinWaiter === null) {
        this.#removeMember(group, member, `missed its session timeout of ${member.sessionTimeoutMs} ms`);
      }
    }, member.sessionTimeoutMs);
    member.sessionTimer.unref();
  }

  #stopSessionTimer(member: Member): void {
    if (member.sessionTimer) clearTimeout(member.sessionTimer);
    member.sessionTimer = null;
  }

  #dropMember(group: Group, member: Member, reason = 'did not join the rebalance in time'): void {
    this.#stopSessionTimer(member);
    member.syncWaiter?.(new WeirError('UNKNOWN_MEMBER', `member ${member.memberId} was removed from group ${group.groupId}`));
    member.syncWaiter = null;
    group.members.delete(member.memberId);
    if (group.leaderId === member.memberId) group.leaderId = '';
    tellWatchers(member, new WeirError('UNKNOWN_MEMBER', `member ${member.memberId} of group ${group.groupId} ${reason}`));
  }

  #removeMember(group: Group, member: Member, reason: string): void {
    member.joinWaiter?.(new WeirError('UNKNOWN_MEMBER', `member ${member.memberId} ${reason}`));
    member.joinWaiter = null;
    this.#dropMember(group, member, reason);
    if (group.members.size === 0) {
      if (group.rebalanceTimer) clearTimeout(group.rebalanceTimer);
      group.rebalanceTimer = null;
      group.state = 'Empty';
      group.generationId++;
      group.emptySinceMs = Date.now();
      return;
    }
    if (group.state !== 'PreparingRebalance') this.#prepareRebalance(group);
    this.#maybeCompleteJoin(group);
  }
}

/**
 * The most characters of the client id that start a member id. Member ids go back and forth in
 * every group request and response, whose strings are bounded (32767 bytes in Kafka's protocol),
 * so however long a client id is, the member id made from it must fit.
 */
export const memberIdClientIdCharsMax = 200;

/** The client id's first characters (whole code points, so the id survives UTF-8), a dash, a UUID. */
function newMemberId(clientId: string): string {
  const prefix = clientId.length <= memberIdClientIdCharsMax ? clientId : Array.from(clientId).slice(0, memberIdClientIdCharsMax).join('');
  return `${prefix || 'member'}-${randomUUID()}`;
}

function newMember(request: JoinGroupRequest): Member {
  return {
    memberId: newMemberId(request.clientId),
    groupInstanceId: request.groupInstanceId ?? null,
    clientId: request.clientId,
    clientHost: request.clientHost,
    sessionTimeoutMs: request.sessionTimeoutMs,
    rebalanceTimeoutMs: Math.min(request.rebalanceTimeoutMs, rebalanceTimeoutMsMax),
    protocolType: request.protocolType,
    protocols: request.protocols,
    assignment: Buffer.alloc(0),
    decodedAssignment: null,
    sessionTimer: null,
    joinWaiter: null,
    syncWaiter: null,
    watchers: new Set(),
  };
}

/** The member's metadata for protocol `name` (empty when it offers no such protocol). */
function protocolMetadata(member: Member, name: string): Buffer {
  return member.protocols.find((p) => p.name === name)?.metadata ?? Buffer.alloc(0);
}

function tellWatchers(member: Member, error: WeirError): void {
  const watchers = [...member.watchers];
  member.watchers.clear();
  for (const watcher of watchers) watcher(error);
}

function subscribedTopics(member: Member): string[] {
  if (member.protocolType !== weirProtocolType) return [];
  try {
    const parsed = JSON.parse(member.protocols[0]!.metadata.toString('utf8')) as { topics?: unknown };
    return Array.isArray(parsed.topics) ? parsed.topics.filter((t): t is string => typeof t === 'string') : [];
  } catch {
    return [];
  }
}

function sameProtocols(a: GroupProtocol[], b: GroupProtocol[]): boolean {
  return a.length === b.length && a.every((p, i) => p.name === b[i]!.name && p.metadata.equals(b[i]!.metadata));
}

export function validateGroupId(groupId: string): void {
  if (typeof groupId !== 'string' || groupId.length === 0 || Buffer.byteLength(groupId) > groupIdBytesMax) {
    throw new WeirError('INVALID_GROUP_ID', `group id ${JSON.stringify(groupId)} is invalid: 1 to ${groupIdBytesMax} bytes`);
  }
  // The offset store separates group, topic and partition with NUL in its record keys.
  if (/[\u0000-\u001f\u007f]/.test(groupId)) {
    throw new WeirError('INVALID_GROUP_ID', `group id ${JSON.stringify(groupId)} is invalid: it has a control character`);
  }
}

/** Checks the metadata of a broker-assigned group member: UTF-8 JSON {"topics": [...]}. */
export function weirMetadata(topics: string[]): Buffer {
  return Buffer.from(JSON.stringify({ topics }));
}
