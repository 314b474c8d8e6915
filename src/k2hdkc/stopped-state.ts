import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../system/atomic-file';

/**
 * stop_db takes the node out of the cluster (SERVICEOUT, K2HR3 deregistration, processes
 * stopped). This marker in the agent's state directory remembers that across an agent restart
 * or a VM reboot, so the agent knows at start whether to bring the node back by itself.
 */
export interface StoppedState {
  /** Trove 1.0's do_not_start_on_reboot: the node stays down until restart / start_db_with_conf_changes. */
  readonly doNotStartOnReboot: boolean;
  /** Whether stop_db left K2HR3 (always, except an internal stop that restarts at once): a start registers again. */
  readonly deregistered: boolean;
  /** ISO time of the stop (for the operator reading the file). */
  readonly stoppedAt: string;
}

export const STOPPED_STATE_FILE = 'k2hdkc-stopped.json';

/** Readable by the agent's group only, like the prepare markers. */
const MODE = 0o640;

/** What a marker that cannot be read says: stopped, deregistered, to stay down. */
const UNKNOWN_STOP: StoppedState = { doNotStartOnReboot: true, deregistered: true, stoppedAt: 'unknown' };

/** Records the stop (atomically); replaces an earlier marker. */
export async function markStopped(stateDir: string, stop: Omit<StoppedState, 'stoppedAt'>, now: Date = new Date()): Promise<void> {
  const state: StoppedState = { doNotStartOnReboot: stop.doNotStartOnReboot, deregistered: stop.deregistered, stoppedAt: now.toISOString() };
  await writeFileAtomic(join(stateDir, STOPPED_STATE_FILE), `${JSON.stringify(state)}\n`, MODE);
}

/**
 * The marker, or null when the node was not stopped since its last start. A marker that cannot
 * be parsed still says a stop happened; not knowing what was asked, it keeps the node down
 * (a node being deleted must not come back).
 */
export async function readStopped(stateDir: string): Promise<StoppedState | null> {
  let text: string;
  try {
    text = await fs.readFile(join(stateDir, STOPPED_STATE_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return UNKNOWN_STOP;
  }
  try {
    const value = JSON.parse(text) as Partial<StoppedState> | null;
    if (value !== null && typeof value.doNotStartOnReboot === 'boolean' && typeof value.deregistered === 'boolean' && typeof value.stoppedAt === 'string') {
      return { doNotStartOnReboot: value.doNotStartOnReboot, deregistered: value.deregistered, stoppedAt: value.stoppedAt };
    }
  } catch {
    // falls through to the conservative answer
  }
  return UNKNOWN_STOP;
}

/** Forgets the stop once the node runs again; no marker is fine. */
export async function clearStopped(stateDir: string): Promise<void> {
  await fs.rm(join(stateDir, STOPPED_STATE_FILE), { force: true });
}

/**
 * What the agent does with a node when it starts (after an agent restart or a VM reboot):
 * - `none`: not prepared (no saved K2HR3 bootstrap or no INI): nothing to bring back;
 * - `stay-stopped`: stopped with do_not_start_on_reboot: only restart / start_db start it;
 * - `follow`: running and never stopped: only follow K2HR3 again;
 * - `rejoin`: running although stop_db deregistered it (something else started the daemons):
 *   register and refresh the INI, then follow;
 * - `start`: not running (a reboot, with or without a plain stop_db first): register, refresh
 *   the INI, start chmpx/k2hdkc, wait for healthy, follow.
 */
export type StartupAction = 'none' | 'stay-stopped' | 'follow' | 'rejoin' | 'start';

export function startupAction(node: { readonly prepared: boolean; readonly running: boolean; readonly stopped: StoppedState | null }): StartupAction {
  if (!node.prepared) return 'none';
  if (node.stopped?.doNotStartOnReboot === true) return 'stay-stopped';
  if (node.running) return node.stopped === null ? 'follow' : 'rejoin';
  return 'start';
}
