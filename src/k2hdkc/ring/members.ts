import type { ChmpxIni } from '../ini/model';

/** A server of the cluster as the INI (what K2HR3 serves) lists it, in registration order. */
export interface RingMember {
  /** chmpx NAME: where its control port answers, unless the agent overrides the host. */
  readonly name: string;
  readonly ctlport: number;
  /** CUSTOM_ID_SEED (the K2HR3 tag), else NAME: how ALLSTATUS names it. */
  readonly seed: string;
  readonly isSelf: boolean;
}

/**
 * The [SVRNODE]s of `ini` in file order. K2HR3 keeps a role's hosts in registration order and
 * the template writes them in that order (spec §10), so every member's list starts with the
 * same earlier-registered servers: the order the start gate relies on.
 */
export function ringMembers(ini: ChmpxIni, self: { readonly ctlport: number; readonly seed: string }): RingMember[] {
  const g = ini.global;
  const out: RingMember[] = [];
  for (const n of ini.servers) {
    const ctlport = n.ctlport ?? g?.ctlport;
    if (n.name === undefined || ctlport === undefined) continue;
    const seed = n.customIdSeed || n.name;
    out.push({ name: n.name, ctlport, seed, isSelf: ctlport === self.ctlport && seed === self.seed });
  }
  return out;
}

/** `name:ctlport` for logs. */
export const memberLabel = (m: Pick<RingMember, 'name' | 'ctlport'>): string => `${m.name}:${m.ctlport}`;
