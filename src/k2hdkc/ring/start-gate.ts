import type { Logger } from '../../log';
import { ProcessError } from '../../errors';
import { sleep } from '../../system/sleep';
import { memberLabel, type RingMember } from './members';
import { observeMembers, ownRow, rowOf, type CtlportHost, type MemberObservation } from './observe';

/**
 * When a server may start its chmpx, so that a cluster forms as ONE ring whatever order its
 * members start in (issue 10 item 1). Real chmpx makes separate rings of servers that start
 * before their peers list them, and when such rings meet it demotes members to
 * [SERVICE OUT][UP] for good — the existing member, when a newcomer came too early
 * (k2hdkc-observed.md "Second run"). So members join one at a time, in K2HR3 registration order:
 * - the first registered server starts when no other member's chmpx answers: it founds the ring;
 * - any other server waits until a ring serves, every member whose chmpx answers lists it (their
 *   INIs were reloaded with it), no member is joining, leaving or waiting for its k2hdkc, and
 *   every server registered before it is up (one at a time); a member silent for `graceMs` is
 *   taken for dead and no longer waited for.
 */
export type GateDecision =
  | { readonly go: true; readonly as: 'founder' | 'joiner'; readonly why: string }
  | { readonly go: false; readonly why: string };

/** Pure decision from one round of observations; `silentForMs` says how long each member has not answered. */
export function decideStart(observations: readonly MemberObservation[], silentForMs: (m: RingMember) => number, graceMs: number): GateDecision {
  const selfIndex = observations.findIndex((o) => o.member.isSelf);
  if (selfIndex < 0) return { go: false, why: 'this node is not among the servers of its INI yet' };
  const self = observations[selfIndex]!.member;
  const others = observations.filter((o) => !o.member.isSelf);
  const up = others.filter((o) => o.all !== undefined);
  for (const o of up) {
    if (rowOf(o.all!, self) === undefined) return { go: false, why: `${memberLabel(o.member)} does not list this node yet (its INI has not been reloaded with it)` };
  }
  for (const o of up) {
    const own = ownRow(o);
    if (own === undefined) continue;
    const s = own.status;
    if (s.action !== 'n/a') return { go: false, why: `${memberLabel(o.member)} is ${s.text}: one join or leave at a time` };
    if (s.ring === 'SERVICE OUT' && s.live === 'UP' && s.suspend) return { go: false, why: `${memberLabel(o.member)} is starting (${s.text})` };
  }
  const earlierSilent = observations.slice(0, selfIndex).filter((o) => o.all === undefined && silentForMs(o.member) < graceMs);
  if (earlierSilent.length > 0) {
    return { go: false, why: `${earlierSilent.map((o) => memberLabel(o.member)).join(', ')} registered before this node and starts first` };
  }
  const serving = up.filter((o) => ownRow(o)?.status.ring === 'SERVICE IN');
  if (serving.length > 0) return { go: true, as: 'joiner', why: `${serving.length} member(s) serve and every member that answers lists this node` };
  if (up.length === 0) return { go: true, as: 'founder', why: others.length === 0 ? 'the only server' : 'no other member answers and none registered before this node is alive' };
  return { go: false, why: `members answer (${up.map((o) => memberLabel(o.member)).join(', ')}) but none is in service yet` };
}

export interface StartGateOptions {
  /** The members as the INI lists them now (re-read each round: K2HR3 may add some). */
  readonly members: () => Promise<readonly RingMember[]>;
  readonly host: CtlportHost;
  /** Called between rounds so the INI follows K2HR3 while waiting (registrations of others). */
  readonly refresh?: (signal: AbortSignal) => Promise<void>;
  readonly refreshEveryMs: number;
  readonly pollMs: number;
  readonly graceMs: number;
  readonly signal: AbortSignal;
  readonly log: Logger;
}

/** Waits until decideStart says go; throws ProcessError naming the last reason when `signal` ends it. */
export async function waitForTurn(o: StartGateOptions): Promise<GateDecision & { go: true }> {
  const silentSince = new Map<string, number>();
  let lastWhy = '';
  let lastRefresh = Date.now();
  const started = Date.now();
  for (;;) {
    if (o.signal.aborted) throw new ProcessError(`This node could not start its chmpx in turn: ${lastWhy || 'cancelled'}.`);
    const members = await o.members();
    const observations = await observeMembers(members, o.host, o.signal).catch(() => undefined);
    if (observations !== undefined) {
      const now = Date.now();
      for (const obs of observations) {
        const key = memberLabel(obs.member);
        if (obs.all !== undefined) silentSince.delete(key);
        else if (!silentSince.has(key)) silentSince.set(key, now);
      }
      const decision = decideStart(observations, (m) => now - (silentSince.get(memberLabel(m)) ?? now), o.graceMs);
      if (decision.go) {
        o.log.info({ as: decision.as, waitedMs: now - started }, `starting chmpx as ${decision.as}: ${decision.why}`);
        return decision;
      }
      if (decision.why !== lastWhy) o.log.info({ waitedMs: now - started }, `waiting to start chmpx: ${decision.why}`);
      lastWhy = decision.why;
    }
    if (o.refresh !== undefined && Date.now() - lastRefresh >= o.refreshEveryMs) {
      lastRefresh = Date.now();
      await o.refresh(o.signal).catch((error: unknown) => o.log.warn({ err: error }, 'could not refresh the INI from K2HR3 while waiting to start'));
    }
    await sleep(o.pollMs, o.signal).catch(() => undefined);
  }
}
