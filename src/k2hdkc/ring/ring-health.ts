import { CtlportClient } from '../ctlport/client';
import type { AllStatus } from '../ctlport/parse';
import { memberLabel, type RingMember } from './members';
import { rowOf, type CtlportHost } from './observe';

/** Whether this node's ring is the whole cluster: `ok`, or why not. */
export type RingCheck = { readonly ok: true } | { readonly ok: false; readonly why: string };

/**
 * A serving node is only `healthy` when its ring lists every registered member (every
 * [SVRNODE] of the INI K2HR3 serves) in service (issue 10 item 1). A member this node's chmpx
 * shows out of service is tolerated only when its own control port does not answer (it is down:
 * the ring rightly runs without it); a member that answers but is out of this node's ring means
 * split or conflicting rings, or a join still going on.
 */
export async function checkRing(
  all: AllStatus,
  members: readonly RingMember[],
  host: CtlportHost,
  signal?: AbortSignal,
): Promise<RingCheck> {
  for (const m of members) {
    if (m.isSelf) continue;
    const row = rowOf(all, m);
    if (row === undefined) return { ok: false, why: `this node's chmpx does not list ${memberLabel(m)} yet` };
    if (row.status.ring === 'SERVICE IN' && row.status.live === 'UP') continue;
    const client = new CtlportClient({ host: host(m), port: m.ctlport, connectTimeoutMs: 1000, readTimeoutMs: 1000 });
    const own = await client.selfStatus(signal).catch(() => undefined);
    if (own === undefined) continue; // down: not part of any ring now
    return { ok: false, why: `${memberLabel(m)} is up (${own.status.text}) but this node's ring has it ${row.status.text}` };
  }
  return { ok: true };
}
