import { CtlportClient } from '../ctlport/client';
import { findRingServer, type AllStatus, type RingServer } from '../ctlport/parse';
import type { RingMember } from './members';

/** What one member's chmpx said: its ALLSTATUS (its ring view, itself included), or nothing. */
export interface MemberObservation {
  readonly member: RingMember;
  /** undefined: its control port did not answer (not started, stopped, unreachable). */
  readonly all: AllStatus | undefined;
}

/** Where to reach a member's control port (the agent may override its own host). */
export type CtlportHost = (member: RingMember) => string;

const PROBE_TIMEOUT_MS = 1000;

/** ALLSTATUS of every member in parallel; a member that does not answer in 1 s counts as silent. */
export async function observeMembers(members: readonly RingMember[], host: CtlportHost, signal?: AbortSignal): Promise<MemberObservation[]> {
  return Promise.all(
    members.map(async (member) => {
      const client = new CtlportClient({ host: host(member), port: member.ctlport, connectTimeoutMs: PROBE_TIMEOUT_MS, readTimeoutMs: PROBE_TIMEOUT_MS });
      const all = await client.allStatus(signal).catch((error: unknown) => {
        if (signal?.aborted) throw error;
        return undefined;
      });
      return { member, all };
    }),
  );
}

/** `member` as the ring view `all` lists it, or undefined. */
export function rowOf(all: AllStatus, member: Pick<RingMember, 'ctlport' | 'seed'>): RingServer | undefined {
  return findRingServer(all, { ctlport: member.ctlport, customIdSeed: member.seed });
}

/** The member's own status, from its own ALLSTATUS. */
export function ownRow(o: MemberObservation): RingServer | undefined {
  return o.all === undefined ? undefined : rowOf(o.all, o.member);
}
