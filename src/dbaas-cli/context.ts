import type { Glance, Neutron, Nova, Server, Trove } from './openstack';
import type { K2hr3User } from './k2hr3-user';
import type { KeystoneSession } from '../keystone/session';

/** What every command works with, built once in main.ts (tests build their own). */
export interface Context {
  readonly session: KeystoneSession;
  readonly nova: Nova;
  readonly neutron: Neutron;
  readonly glance: Glance;
  /** null when the catalog has no `database` (Trove) endpoint. */
  readonly trove: Trove | null;
  readonly k2hr3: K2hr3User;
  /** The K2HR3 API URL VMs use in their extdata URL (default: the one the CLI uses). */
  readonly k2hr3VmUrl: string;
  /** One line of progress on stderr (never on stdout, which holds the result). */
  progress(message: string): void;
  /** Poll interval while waiting, ms. */
  readonly pollMs: number;
  /** Give up waiting after this many ms. */
  readonly timeoutMs: number;
}

/** Metadata keys the CLI puts on the VMs it makes; how it finds them again. */
export const META = {
  cluster: 'k2hdkc-dbaas-cluster',
  role: 'k2hdkc-dbaas-role',
  index: 'k2hdkc-dbaas-index',
  flavor: 'k2hdkc-dbaas-flavor',
  image: 'k2hdkc-dbaas-image',
  network: 'k2hdkc-dbaas-network',
  volume: 'k2hdkc-dbaas-volume-gb',
} as const;

/** The security group of a CLI-made cluster. */
export function securityGroupName(cluster: string): string {
  return `k2hdkc-${cluster}`;
}

/** The first IPv4 address of a server (any network), or null before Nova has one. */
export function serverAddress(server: Server): string | null {
  for (const list of Object.values(server.addresses ?? {})) {
    for (const a of list) if (a.version === undefined || a.version === 4) if (/^\d+\.\d+\.\d+\.\d+$/.test(a.addr)) return a.addr;
  }
  return null;
}

export function indexOf(server: Server): number {
  const n = Number(server.metadata?.[META.index]);
  return Number.isInteger(n) ? n : 0;
}
