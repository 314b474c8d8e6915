import { randomBytes } from 'node:crypto';
import type { HostEntry } from './render';

/**
 * The K2HR3 double's data: resources, policies, roles with their hosts, and tokens, keyed by
 * full YRN (`yrn:yahoo:::<tenant>:<kind>:<path>`). Follows spec §1; knows nothing of the agent.
 */
export interface ResourceData {
  type: 'string' | 'object';
  string: string;
  keys: Record<string, string>;
}
export interface PolicyData {
  effect: 'allow' | 'deny';
  action: string[];
  resource: string[];
  alias: string[];
}
export interface RoleData {
  policies: string[];
  alias: string[];
  /** keyed `"<ip>,<port>,<cuk>"` as the template sees them */
  hosts: Map<string, HostEntry>;
}
export interface RoleTokenData {
  role: string;
  /** null: made by a user, valid from anywhere; else the IP it is bound to. */
  ip: string | null;
  expiresAt: number;
}
export interface UserTokenData {
  user: string;
  tenant: string;
}

/** One entry of the write log tests read to check who created what. */
export interface WriteRecord {
  kind: 'resource' | 'policy' | 'role';
  name: string;
  created: boolean;
}

export const YRN_RE = /^yrn:yahoo:::([^:]+):(role|resource|policy):(.+)$/;

export class DoubleState {
  readonly resources = new Map<string, ResourceData>();
  readonly policies = new Map<string, PolicyData>();
  readonly roles = new Map<string, RoleData>();
  readonly roleTokens = new Map<string, RoleTokenData>();
  readonly userTokens = new Map<string, UserTokenData>();
  readonly registerPaths = new Map<string, { role: string; token: string }>();
  readonly writes: WriteRecord[] = [];

  /** `token` as K2HR3 makes it: 128-bit hex (spec §1.1). */
  newToken(): string {
    return randomBytes(16).toString('hex');
  }

  /** Creates a role token; `expireSec` 0 means K2HR3's "no expiry" (10 years). */
  issueRoleToken(role: string, ip: string | null, expireSec: number): { token: string; registerpath: string } {
    const token = this.newToken();
    const life = expireSec === 0 ? 315360000 : expireSec;
    this.roleTokens.set(token, { role, ip, expiresAt: Date.now() + life * 1000 });
    // Opaque to guests (spec §1.3.1); the double keeps a lookup table instead of encrypting.
    const registerpath = encodeURIComponent(randomBytes(24).toString('base64'));
    this.registerPaths.set(registerpath, { role, token });
    return { token, registerpath };
  }

  /** The role and all its parents, nearest last (`a`, `a/b`, ...). */
  lineage(roleYrn: string): string[] {
    const m = YRN_RE.exec(roleYrn);
    if (!m) return [];
    const prefix = `yrn:yahoo:::${m[1]}:role:`;
    const parts = (m[3] as string).split('/');
    return parts.map((_, i) => prefix + parts.slice(0, i + 1).join('/'));
  }

  /** Whether a role (with inherited parent policies) may read a resource (spec §1.3.4). */
  canRead(roleYrn: string, resourceYrn: string): boolean {
    let allowed = false;
    for (const r of this.lineage(roleYrn)) {
      for (const p of this.roles.get(r)?.policies ?? []) {
        const pol = this.policies.get(p);
        if (!pol || !pol.resource.includes(resourceYrn) || !pol.action.includes('yrn:yahoo::::action:read')) continue;
        if (pol.effect === 'deny') return false;
        allowed = true;
      }
    }
    return allowed;
  }

  /** Hosts of a role in registration order, as the template iterates them (spec §10). */
  hostsOf(roleYrn: string): HostEntry[] {
    const role = this.roles.get(roleYrn);
    if (!role) return [];
    return [...role.hosts.values()];
  }

  /**
   * Names directly under `parent` (a path, or null for the tenant's top level) of one kind, as
   * `GET /v1/list/<kind>[/<parent>]` lists them: existing objects only, sorted by name.
   */
  childrenOf(tenant: string, kind: 'role' | 'resource' | 'policy', parent: string | null): string[] {
    const prefix = `yrn:yahoo:::${tenant}:${kind}:${parent === null ? '' : `${parent}/`}`;
    const all = kind === 'role' ? this.roles : kind === 'resource' ? this.resources : this.policies;
    return [...all.keys()]
      .filter((name) => name.startsWith(prefix) && name.length > prefix.length && !name.slice(prefix.length).includes('/'))
      .map((name) => name.slice(prefix.length))
      .sort();
  }

  /** Adds a host; an ANY-port entry replaces specific ports of the same IP and vice versa (spec §1.3.2). */
  addHost(roleYrn: string, entry: HostEntry): void {
    const role = this.roles.get(roleYrn);
    if (!role) return;
    for (const [key, h] of role.hosts) {
      if (h.host === entry.host && (h.port === 0) !== (entry.port === 0)) role.hosts.delete(key);
    }
    role.hosts.set(`${entry.host},${entry.port},${entry.cuk}`, entry);
  }

  /** Removes the host entry matching ip, port and cuk (cuk optional); true if one went. */
  removeHost(roleYrn: string, ip: string, port: number, cuk: string | undefined): boolean {
    const role = this.roles.get(roleYrn);
    if (!role) return false;
    let removed = false;
    for (const [key, h] of role.hosts) {
      if (h.host === ip && (h.port === port || h.port === 0) && (cuk === undefined || (h.cuk ?? '') === cuk)) {
        role.hosts.delete(key);
        removed = true;
      }
    }
    return removed;
  }
}
