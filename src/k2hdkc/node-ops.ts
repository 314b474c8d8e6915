import { IniError } from '../errors';
import { sleep } from '../system/sleep';
import type { ChmpxIni } from './ini/model';

/** This node's chmpx control port and identity, as its INI says. */
export interface SelfEndpoint {
  /** Where to connect. */
  readonly host: string;
  readonly port: number;
  /** chmpx NAME, the host part of SERVICEOUT. */
  readonly name: string;
  /** CUSTOM_ID_SEED (or NAME without one), the id part of SERVICEOUT with CHMPXIDTYPE=CUSTOM. */
  readonly seed: string;
}

/**
 * Finds this node's own entry the way chmpx does (spec §4.5): the node whose CUK is SELFCUK (our
 * instance id) and whose control port is SELFCTLPORT (else CTLPORT), among servers or slaves
 * by [GLOBAL] MODE. Throws IniError when there is none.
 */
export function selfEndpoint(ini: ChmpxIni, cuk: string, hostOverride: string | null): SelfEndpoint {
  const g = ini.global;
  const slave = (g?.mode ?? '').toLowerCase() === 'slave';
  const ctlport = g?.selfCtlport ?? g?.ctlport;
  const nodes = slave ? ini.slaves : ini.servers;
  const self = nodes.find((n) => n.cuk === cuk && (ctlport === undefined || n.ctlport === ctlport));
  if (self === undefined || self.name === undefined || self.ctlport === undefined) {
    throw new IniError(`The INI has no ${slave ? '[SLVNODE]' : '[SVRNODE]'} entry with CUK ${cuk} and control port ${ctlport ?? '?'}`);
  }
  return { host: hostOverride ?? self.name, port: self.ctlport, name: self.name, seed: self.customIdSeed ?? self.name };
}

/**
 * Calls `check` every `intervalMs` until it returns true (→ true) or `signal` aborts (→ false).
 * Errors thrown by `check` propagate; an abort during `check` counts as the deadline.
 */
export async function waitUntil(signal: AbortSignal, intervalMs: number, check: () => Promise<boolean>): Promise<boolean> {
  for (;;) {
    if (signal.aborted) return false;
    try {
      if (await check()) return true;
    } catch (error) {
      if (signal.aborted) return false;
      throw error;
    }
    try {
      await sleep(intervalMs, signal);
    } catch {
      return false;
    }
  }
}
