/**
 * A consumer's membership of a broker-assigned ('weir') group: join (which answers with this
 * member's partitions once the rebalance completes), heartbeats on an interval, and leave.
 * A heartbeat that reports a rebalance (or a lost membership) calls `onRebalance`; the consumer
 * then stops fetching, commits, and joins again.
 */
import { isWeirError } from '../util/errors.js';
import type { Client } from './client.js';

export interface MembershipOptions {
  groupId: string;
  topics: string[];
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  heartbeatIntervalMs: number;
}

const rejoinCodes: readonly string[] = ['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER'];

export class GroupMembership {
  readonly #client: Client;
  readonly #options: MembershipOptions;
  readonly #onRebalance: () => void;
  #memberId = '';
  #generationId = -1;
  #heartbeatTimer: NodeJS.Timeout | null = null;
  #stopped = false;

  constructor(client: Client, options: MembershipOptions, onRebalance: () => void) {
    this.#client = client;
    this.#options = options;
    this.#onRebalance = onRebalance;
  }

  /** The member reference for commits; generationId -1 before the first join. */
  get ref(): { groupId: string; generationId: number; memberId: string } {
    return { groupId: this.#options.groupId, generationId: this.#generationId, memberId: this.#memberId };
  }

  get joined(): boolean {
    return this.#generationId >= 0 && this.#memberId !== '';
  }

  /** The broker no longer knows this member: the next join starts as a new one. */
  forgetMember(): void {
    this.#memberId = '';
    this.#generationId = -1;
  }

  /** Joins (or rejoins) and returns this member's partitions. */
  async join(): Promise<{ topic: string; partition: number }[]> {
    this.#stopHeartbeat();
    const result = await this.#client.request(
      'joinGroup',
      {
        groupId: this.#options.groupId,
        memberId: this.#memberId,
        groupInstanceId: null,
        sessionTimeoutMs: this.#options.sessionTimeoutMs,
        rebalanceTimeoutMs: this.#options.rebalanceTimeoutMs,
        topics: this.#options.topics,
      },
      this.#options.rebalanceTimeoutMs,
    );
    this.#memberId = result.memberId;
    this.#generationId = result.generationId;
    if (!this.#stopped) this.#startHeartbeat(result.generationId);
    return result.assignment.flatMap((t) => t.partitions.map((partition) => ({ topic: t.topic, partition })));
  }

  #startHeartbeat(generationId: number): void {
    let reported = false;
    this.#heartbeatTimer = setInterval(() => {
      if (this.#generationId !== generationId || reported) return;
      this.#client
        .request('heartbeat', { groupId: this.#options.groupId, generationId, memberId: this.#memberId })
        .catch((error: unknown) => {
          if (this.#stopped || this.#generationId !== generationId || reported) return;
          if (!isWeirError(error) || !rejoinCodes.includes(error.code)) return; // a lost connection: try again
          if (error.code === 'UNKNOWN_MEMBER') this.forgetMember();
          reported = true;
          this.#onRebalance();
        });
    }, this.#options.heartbeatIntervalMs);
    this.#heartbeatTimer.unref();
  }

  #stopHeartbeat(): void {
    if (this.#heartbeatTimer !== null) clearInterval(this.#heartbeatTimer);
    this.#heartbeatTimer = null;
  }

  /** Stops heartbeating, without telling the broker (the group drops the member after its session timeout). */
  stop(): void {
    this.#stopped = true;
    this.#stopHeartbeat();
  }

  /** Stops heartbeating and leaves the group (best effort); no longer joined, so nothing commits as the member after. */
  async leave(): Promise<void> {
    this.stop();
    const memberId = this.#memberId;
    this.forgetMember();
    if (memberId === '' || this.#client.isClosed) return;
    await this.#client.request('leaveGroup', { groupId: this.#options.groupId, memberId }).catch(() => {});
  }
}
