import { CtlportError } from '../../errors';
import type { NodeRole } from '../ini/model';
import type { CtlportClient } from './client';
import type { SelfStatus } from './parse';
import { isServingServer, isUpSlave, type ChmpxStatus } from './status-word';

/**
 * How a node is doing, in Trove's words (the lead maps it to the conductor's ServiceStatus).
 * `crashed` is never returned here: only the process supervisor sees a crash loop.
 */
export type NodeHealth = 'healthy' | 'running' | 'blocked' | 'shutdown' | 'crashed';

/** What is known about the node when deciding its health. */
export interface HealthInput {
  readonly role: NodeRole;
  /** chmpx's own status; undefined when its control port did not answer. */
  readonly status: ChmpxStatus | undefined;
  /** Whether the k2hdkc server process runs (servers only); undefined when not checked. */
  readonly k2hdkcRunning?: boolean;
}

/**
 * Server `[SERVICE IN][UP][n/a][Nothing][NoSuspend]` or slave `[SLAVE][UP]...` → healthy;
 * chmpx answering in any other state (joining, merging, serviced out, waiting for k2hdkc) →
 * running; no answer, or a server whose k2hdkc is down → shutdown (spec §5.4, §8.7).
 */
export function healthFromStatus(input: HealthInput): NodeHealth {
  const { role, status } = input;
  if (status === undefined) return 'shutdown';
  if (role === 'server' && input.k2hdkcRunning === false) return 'shutdown';
  if (role === 'server' ? isServingServer(status) : isUpSlave(status)) return 'healthy';
  return 'running';
}

/** Result of one probe: the health and, when chmpx answered, its SELFSTATUS. */
export interface HealthProbe {
  readonly health: NodeHealth;
  readonly self: SelfStatus | undefined;
  /** Why chmpx is considered down (the CtlportError), for the log. */
  readonly error: Error | undefined;
}

/**
 * Asks chmpx for SELFSTATUS and maps it. No connection or no reply in time is `shutdown`; a
 * reply we cannot use (ERROR:, unreadable) means chmpx is up but not serving: `running`.
 * Only cancellation through `signal` throws (the CtlportError 'aborted').
 */
export async function probeHealth(
  client: CtlportClient,
  role: NodeRole,
  options: { readonly signal?: AbortSignal; readonly k2hdkcRunning?: boolean } = {},
): Promise<HealthProbe> {
  try {
    const self = await client.selfStatus(options.signal);
    const health = healthFromStatus({
      role,
      status: self.status,
      ...(options.k2hdkcRunning === undefined ? {} : { k2hdkcRunning: options.k2hdkcRunning }),
    });
    return { health, self, error: undefined };
  } catch (error) {
    if (error instanceof CtlportError && error.failure === 'aborted') throw error;
    const down = !(error instanceof CtlportError) || error.failure === 'connect' || error.failure === 'timeout';
    return { health: down ? 'shutdown' : 'running', self: undefined, error: error as Error };
  }
}
