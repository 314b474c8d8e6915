import { CtlportClient } from '../k2hdkc/ctlport/client';
import { isServingServer, type ChmpxStatus } from '../k2hdkc/ctlport/status-word';
import type { RingServer } from '../k2hdkc/ctlport/parse';

/**
 * The chmpx ring as seen through a server's control port (ALLSTATUS, spec §5.4): the CLI asks
 * the first server that answers. Each server is known by its CUK, which the DBaaS template sets
 * to the Nova instance id. Returns null when no server's control port answers (the CLI runs
 * outside the cluster's network, or chmpx is not up yet).
 */
export async function readRing(addresses: readonly string[], ctlport: number): Promise<RingServer[] | null> {
  for (const host of addresses) {
    try {
      const client = new CtlportClient({ host, port: ctlport, connectTimeoutMs: 1000, readTimeoutMs: 2000 });
      return [...(await client.allStatus()).servers];
    } catch {
      // Try the next server.
    }
  }
  return null;
}

export function ringStatusText(s: ChmpxStatus | undefined): string {
  if (s === undefined) return 'not in ring';
  return `[${s.ring}][${s.live}][${s.action}][${s.operate}]${s.suspend ? '[Suspend]' : ''}`;
}

export function serving(s: ChmpxStatus | undefined): boolean {
  return s !== undefined && isServingServer(s);
}

/** SERVICEOUT of one server, sent to a chmpx of the ring; true when chmpx accepted it. */
export async function serviceOut(via: string, ctlport: number, target: RingServer): Promise<boolean> {
  try {
    const client = new CtlportClient({ host: via, port: ctlport, connectTimeoutMs: 1000, readTimeoutMs: 3000 });
    await client.serviceOut({ host: target.serverName, ctlport: target.ctlport ?? ctlport, id: target.customIdSeed || target.cuk });
    return true;
  } catch {
    return false;
  }
}
