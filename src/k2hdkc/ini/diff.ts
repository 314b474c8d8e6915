import type { ChmpxIni, NodeConfig } from './model';

/** A node as it appears in the membership log: the fields that identify it. */
export type MemberSummary = Pick<NodeConfig, 'name' | 'port' | 'ctlport' | 'cuk' | 'customIdSeed'>;

/** Who joined and who left between two versions of the INI. */
export interface MembershipDiff {
  readonly addedServers: MemberSummary[];
  readonly removedServers: MemberSummary[];
  readonly addedSlaves: MemberSummary[];
  readonly removedSlaves: MemberSummary[];
  /** True when neither list changed (other keys may still differ). */
  readonly unchanged: boolean;
}

/**
 * Compares the server and slave lists of two INIs. A node is identified by NAME, PORT, CTLPORT,
 * CUK and CUSTOM_ID_SEED together, so a node re-registered under a new id shows as left + joined.
 * File order is ignored: chmpx sorts the lists itself (spec §4.3).
 */
export function diffMembership(oldIni: ChmpxIni | undefined, newIni: ChmpxIni): MembershipDiff {
  const [addedServers, removedServers] = compare(oldIni?.servers ?? [], newIni.servers);
  const [addedSlaves, removedSlaves] = compare(oldIni?.slaves ?? [], newIni.slaves);
  const unchanged = addedServers.length + removedServers.length + addedSlaves.length + removedSlaves.length === 0;
  return { addedServers, removedServers, addedSlaves, removedSlaves, unchanged };
}

function summary(n: NodeConfig): MemberSummary {
  return { name: n.name, port: n.port, ctlport: n.ctlport, cuk: n.cuk, customIdSeed: n.customIdSeed };
}

function identity(m: MemberSummary): string {
  return JSON.stringify([m.name, m.port, m.ctlport, m.cuk, m.customIdSeed]);
}

function compare(before: readonly NodeConfig[], after: readonly NodeConfig[]): [MemberSummary[], MemberSummary[]] {
  const oldIds = new Set(before.map((n) => identity(summary(n))));
  const newIds = new Set(after.map((n) => identity(summary(n))));
  const added = after.map(summary).filter((m) => !oldIds.has(identity(m)));
  const removed = before.map(summary).filter((m) => !newIds.has(identity(m)));
  return [dedupe(added), dedupe(removed)];
}

function dedupe(list: MemberSummary[]): MemberSummary[] {
  const seen = new Set<string>();
  return list.filter((m) => {
    const id = identity(m);
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}
