import type { Logger } from '../log';
import { K2hr3Client } from '../k2hr3/client';
import type { K2hr3HttpOptions } from '../k2hr3/http';
import { loadBootstrap } from './bootstrap';
import { CtlportClient } from './ctlport/client';
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

/**
 * SERVICEOUT host:ctlport:<custom seed> (spec §4.5, §8), then until `waitUntilMs` (epoch ms) for
 * [SERVICE OUT]. Not reaching it is logged, not thrown; a failed SERVICEOUT throws its error.
 */
export async function serviceOut(endpoint: SelfEndpoint, waitUntilMs: number, log: Logger): Promise<void> {
  const client = new CtlportClient({ host: endpoint.host, port: endpoint.port, connectTimeoutMs: CTLPORT_TIMEOUT_MS, readTimeoutMs: CTLPORT_TIMEOUT_MS });
  const reply = await client.serviceOut({ host: endpoint.name, ctlport: endpoint.port, id: endpoint.seed });
  const started = Date.now();
  const waitMs = Math.max(0, waitUntilMs - started);
  log.info({ reply, waitMs }, 'SERVICEOUT sent; waiting for [SERVICE OUT]');
  let ring = 'unknown';
  const out = await waitUntil(AbortSignal.timeout(waitMs), 100, async () => {
    const self = await client.selfStatus().catch(() => undefined);
    ring = self?.status.ring ?? 'no answer';
    return self === undefined || self.status.ring !== 'SERVICE IN';
  });
  if (out) log.info({ ring, ms: Date.now() - started }, 'node serviced out');
  // Stopping anyway: with AUTOMERGE the ring services a stopped node out (k2hdkc-observed.md).
  else log.warn({ ring, ms: Date.now() - started }, `node still [${ring}] after the ${waitMs} ms stop_db leaves for SERVICEOUT; stopping it without a completed scale-in`);
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
