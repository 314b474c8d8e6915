import type { Logger } from '../../log';
import { RepeatingTask } from '../../system/repeating-task';
import { CtlportClient } from '../ctlport/client';
import type { AllStatus } from '../ctlport/parse';
import { isServingServer } from '../ctlport/status-word';
import { memberLabel, type RingMember } from './members';
import { rowOf, type CtlportHost } from './observe';

/** A server this slave's chmpx holds out of its view although the server serves. */
export interface HeldServer {
  readonly member: RingMember;
  /** Its status in the slave's ALLSTATUS, e.g. `SAFE -> [SERVICE IN][DOWN][n/a][Nothing][NoSuspend]`. */
  readonly seen: string;
  /** Its own SELFSTATUS status. */
  readonly own: string;
}

/** One chmpx of a DUMP: its ctlport, custom_seed and `sock` (`-1`: no connection to it). */
export interface DumpSocket {
  readonly ctlport: number;
  readonly seed: string;
  readonly sock: string;
}

/**
 * The chmpx entries of a DUMP reply (real chmpx 1.0.113: `name = ...` opens an entry, whose
 * `ctlport`, `custom_seed` and `sock` lines follow; `sock = -1` when this chmpx holds no socket
 * to it). The slave's own entry is among them; callers match on ctlport + seed.
 */
export function parseDumpSockets(reply: string): DumpSocket[] {
  const out: DumpSocket[] = [];
  let cur: { ctlport?: number; seed?: string; sock?: string } | undefined;
  const flush = (): void => {
    if (cur?.ctlport !== undefined && cur.seed !== undefined && cur.sock !== undefined) out.push({ ctlport: cur.ctlport, seed: cur.seed, sock: cur.sock });
  };
  for (const line of reply.split('\n')) {
    const m = /^\s*(name|ctlport|custom_seed|sock)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    const [, key, value] = m as unknown as [string, string, string];
    if (key === 'name') {
      flush();
      cur = {};
    } else if (cur !== undefined) {
      if (key === 'ctlport') cur.ctlport = Number(value);
      else if (key === 'custom_seed') cur.seed = value;
      else cur.sock ??= value;
    }
  }
  flush();
  return out;
}

/**
 * The servers the slave's ALLSTATUS shows other than [SERVICE IN][UP] while their own control
 * port says [SERVICE IN][UP][n/a][Nothing][NoSuspend]. A server that does not answer (down, or
 * its chmpx denies this host because its INI does not list the slave yet) or is in any other
 * state is not counted: the slave's view may be right, and a joiner may still refuse the slave
 * (real chmpx 1.0.113: a joiner stuck at [ADD][Doing] whose INI did not list the slave yet
 * refused it, `could not allow from this server`; a restart could not help). A server the
 * slave's chmpx does not list yet is left to its INI reload.
 */
export async function heldServers(all: AllStatus, members: readonly RingMember[], host: CtlportHost, signal?: AbortSignal, sockets?: readonly DumpSocket[]): Promise<HeldServer[]> {
  const held = await Promise.all(
    members.map(async (m): Promise<HeldServer | undefined> => {
      const row = rowOf(all, m);
      const sock = sockets?.find((d) => d.ctlport === m.ctlport && d.seed === m.seed)?.sock;
      const inView = row !== undefined && row.status.ring === 'SERVICE IN' && row.status.live === 'UP';
      if (row === undefined || (inView && sock !== '-1')) return undefined;
      const client = new CtlportClient({ host: host(m), port: m.ctlport, connectTimeoutMs: 1000, readTimeoutMs: 1000 });
      const own = await client.selfStatus(signal).catch(() => undefined);
      if (own === undefined || !isServingServer(own.status)) return undefined;
      return { member: m, seen: inView ? `${row.status.text}, no socket (DUMP sock = -1)` : row.status.text, own: own.status.text };
    }),
  );
  return held.filter((h): h is HeldServer => h !== undefined);
}

export interface SlaveViewHealerOptions {
  /** This slave's control port and the servers of the INI on disk (one read); null when there is no INI. */
  readonly view: () => Promise<{ readonly client: CtlportClient; readonly members: readonly RingMember[] } | null>;
  readonly host: CtlportHost;
  /** Restarts this node's chmpx (a slave holds no data: cheap). */
  readonly restart: (signal?: AbortSignal) => Promise<void>;
  /** How long a server may be held out while it serves before the restart. */
  readonly graceMs: number;
  /** The least time between two restarts. */
  readonly minGapMs: number;
  /** Between checks while the node runs (start()). */
  readonly intervalMs: number;
  readonly log: Logger;
  readonly now?: () => number;
}

export type SlaveViewCheck = 'whole' | 'held' | 'restarted' | 'no-answer';

/** The least time between two looks at the slave's control port. */
const CHECK_GAP_MS = 1000;

/**
 * Real chmpx 1.0.113 on a slave marks a server it could not connect to DOWN
 * (`ConnectServers(3879) : Could not connect to <server> ... set status to DOWN.`) and does not
 * try it again: it stays [SERVICE IN][DOWN] in the slave's ALLSTATUS for 30 s and more while the
 * server itself is 0x21 [SERVICE IN][UP], and clients on the slave miss its keys. That happens
 * when the slave connects before the server's chmpx runs (a server added to the ring) or before
 * the server's INI lists the slave (it is refused). A restarted slave chmpx connects to every
 * server again, so: a server held out for `graceMs` while it serves → restart, at most every
 * `minGapMs`. Called on every health poll while the slave starts, and every `intervalMs` after.
 */
export class SlaveViewHealer {
  /** memberLabel → when it was first seen held. */
  private readonly since = new Map<string, number>();
  private lastRestart: number | undefined;
  private lastLook: { readonly at: number; readonly result: SlaveViewCheck } | undefined;
  private readonly loop: RepeatingTask;
  private readonly now: () => number;

  constructor(private readonly options: SlaveViewHealerOptions) {
    this.now = options.now ?? Date.now;
    this.loop = new RepeatingTask(options.intervalMs, () => this.check(), (error) => options.log.warn({ err: error }, 'slave ring view check failed'));
  }

  /**
   * One look at the slave's view; restarts chmpx when due. Never throws except on cancellation.
   * At most one look per second: the start loop calls this on every health poll, and a real
   * slave chmpx flooded with ALLSTATUS/DUMP connections logged `AcceptCtlport ... errno=9`.
   */
  async check(signal?: AbortSignal): Promise<SlaveViewCheck> {
    const now = this.now();
    if (this.lastLook !== undefined && now - this.lastLook.at < CHECK_GAP_MS) return this.lastLook.result;
    const result = await this.look(signal);
    this.lastLook = { at: now, result };
    return result;
  }

  private async look(signal?: AbortSignal): Promise<SlaveViewCheck> {
    const view = await this.options.view();
    if (view === null) return 'no-answer';
    const { client, members } = view;
    const all = await client.allStatus(signal).catch(() => undefined);
    if (all === undefined) return 'no-answer';
    // The view alone is not enough: real chmpx showed the server [SERVICE IN][UP] in the slave's
    // ALLSTATUS (status updates from the ring) while it had no socket to it and reads of its keys
    // failed; the slave's DUMP says so (`sock = -1` in the server's entry).
    const dump = await client.send('DUMP', signal).catch(() => undefined);
    const held = await heldServers(all, members, this.options.host, signal, dump === undefined ? undefined : parseDumpSockets(dump));
    const now = this.now();
    const labels = new Set(held.map((h) => memberLabel(h.member)));
    for (const key of [...this.since.keys()]) if (!labels.has(key)) this.since.delete(key);
    if (held.length === 0) return 'whole';
    for (const key of labels) if (!this.since.has(key)) this.since.set(key, now);
    const longest = Math.max(...held.map((h) => now - this.since.get(memberLabel(h.member))!));
    if (longest < this.options.graceMs) return 'held';
    if (this.lastRestart !== undefined && now - this.lastRestart < this.options.minGapMs) return 'held';
    this.lastRestart = now;
    this.since.clear();
    const servers = held.map((h) => ({ server: memberLabel(h.member), seen: h.seen, own: h.own }));
    this.options.log.warn(
      { servers, heldMs: longest },
      `restarting this slave's chmpx: it holds ${servers.map((s) => s.server).join(', ')} out of its ring while they serve (chmpx does not retry a server it once failed to connect to)`,
    );
    await this.options.restart(signal);
    return 'restarted';
  }

  /** Checks every `intervalMs` until stop(). */
  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }
}
