import type { Logger } from '../log';
import { K2hr3Client } from '../k2hr3/client';
import type { K2hr3HttpOptions } from '../k2hr3/http';
import { loadBootstrap } from './bootstrap';
import { CtlportClient } from './ctlport/client';
import { CtlportError } from '../errors';
import { sleep } from '../system/sleep';
import { waitUntil, type SelfEndpoint } from './node-ops';

/**
 * Trove gives stop_db agent_call_low_timeout (15 s by default) in all. Less 1 s for the RPC
 * itself, it is split: SERVICEOUT's reply (1 s), the wait for [SERVICE OUT] (what is left),
 * deregistration (one attempt) and the stop of k2hdkc and chmpx (observed 2-4 s).
 */
const STOP_DB_BUDGET_MS = 14_000;
/** SERVICEOUT's reply and the stop of both processes. */
const STOP_RESERVE_MS = 6000;
const DEREGISTER_TIMEOUT_MS = 3000;
/** How long one SERVICEOUT or SELFSTATUS exchange may take. */
const CTLPORT_TIMEOUT_MS = 1000;

/** Until when (epoch ms) a stop_db starting `now` may wait for [SERVICE OUT]: what is left after the reserves. */
export function serviceOutDeadline(deregister: boolean, now: number = Date.now()): number {
  return now + STOP_DB_BUDGET_MS - STOP_RESERVE_MS - (deregister ? DEREGISTER_TIMEOUT_MS : 0);
}

/** What stop_db's SERVICEOUT came to (logged, and returned for tests). */
export interface ServiceOutOutcome {
  /** out: reached [SERVICE OUT]; alone: a one-server ring, nobody to hand over to; already-out; busy: the ring kept merging; timeout: accepted but not out in time. */
  readonly result: 'out' | 'alone' | 'already-out' | 'busy' | 'timeout';
  readonly attempts: number;
  readonly lastReply: string;
  readonly ms: number;
}

const OPERATING = 'Could not change status, because server is operating now.';
const NOT_ALLOWED = 'Could not change status, because status is not allowed.';
const ALONE = 'Failed to send status notice to other servers.';
/** Between SERVICEOUT attempts while the ring merges (a join takes 1-4 s). */
const RETRY_MS = 500;

/**
 * SERVICEOUT host:ctlport:<custom seed> (spec §4.5, §8) until `waitUntilMs` (epoch ms), then a
 * wait for [SERVICE OUT]. While a ring merges real chmpx refuses with `...server is operating
 * now.` (k2hdkc-observed.md): retried every 500 ms within the budget. `Failed to send status
 * notice to other servers.` means a one-server ring (the node then sits in [DELETE][Pending]):
 * nothing to hand over, so no wait. `status is not allowed` means it is not in service. Never
 * throws for chmpx's answers; a control port that does not answer throws its CtlportError.
 */
export async function serviceOut(endpoint: SelfEndpoint, waitUntilMs: number, log: Logger): Promise<ServiceOutOutcome> {
  const client = new CtlportClient({ host: endpoint.host, port: endpoint.port, connectTimeoutMs: CTLPORT_TIMEOUT_MS, readTimeoutMs: CTLPORT_TIMEOUT_MS });
  const started = Date.now();
  const done = (result: ServiceOutOutcome['result'], attempts: number, lastReply: string): ServiceOutOutcome => {
    const outcome = { result, attempts, lastReply, ms: Date.now() - started };
    const say = {
      out: 'node serviced out',
      alone: 'SERVICEOUT: this node is the only server in service (a one-server ring); nothing to hand over, stopping it',
      'already-out': 'SERVICEOUT: the node is not in service; stopping it',
      busy: `SERVICEOUT refused while the ring kept merging for the whole stop_db budget; stopping without a completed scale-in (automerge services the stopped node out)`,
      timeout: 'node accepted SERVICEOUT but did not reach [SERVICE OUT] within the stop_db budget; stopping without a completed scale-in',
    }[result];
    if (result === 'busy' || result === 'timeout') log.warn(outcome, say);
    else log.info(outcome, say);
    return outcome;
  };
  let attempts = 0;
  let reply = '';
  for (;;) {
    attempts += 1;
    try {
      reply = await client.serviceOut({ host: endpoint.name, ctlport: endpoint.port, id: endpoint.seed });
      break;
    } catch (error) {
      if (!(error instanceof CtlportError) || error.failure !== 'rejected') throw error;
      reply = error.reply?.trim() ?? error.message;
      if (reply.includes(ALONE)) return done('alone', attempts, reply);
      if (reply.includes(NOT_ALLOWED)) return done('already-out', attempts, reply);
      if (!reply.includes(OPERATING)) throw error;
      if (Date.now() + RETRY_MS >= waitUntilMs) return done('busy', attempts, reply);
      if (attempts === 1) log.info({ reply }, 'SERVICEOUT refused while the ring merges; retrying within the stop_db budget');
      await sleep(RETRY_MS);
    }
  }
  const waitMs = Math.max(0, waitUntilMs - Date.now());
  log.info({ reply, attempts, waitMs }, 'SERVICEOUT accepted; waiting for [SERVICE OUT]');
  let ring = 'unknown';
  const out = await waitUntil(AbortSignal.timeout(waitMs), 100, async () => {
    const self = await client.selfStatus().catch(() => undefined);
    ring = self?.status.ring ?? 'no answer';
    return self === undefined || self.status.ring !== 'SERVICE IN';
  });
  // Stopping anyway: with AUTOMERGE the ring services a stopped node out (k2hdkc-observed.md).
  return done(out ? 'out' : 'timeout', attempts, `${reply} (last seen ${ring})`);
}

/** Removes this node (`cuk`) from its K2HR3 role; a node never bootstrapped has nothing to remove. Throws K2hr3Error. */
export async function deregisterNode(stateDir: string, cuk: string, http: K2hr3HttpOptions, log: Logger): Promise<void> {
  const boot = await loadBootstrap(stateDir);
  if (boot === null) return;
  // One short attempt: stop_db has 15 s in all.
  const client = new K2hr3Client({ apiUrl: boot.apiUrl, ...http, attempts: 1, timeoutMs: DEREGISTER_TIMEOUT_MS });
  await client.deregisterHost(boot.roleYrn, { cuk });
  log.info({ role: boot.roleYrn }, 'deregistered from K2HR3');
}
