import type { Logger } from '../../log';
import { ProcessError } from '../../errors';
import type { CommandRunner } from '../../system/command';
import { ensureDataFileDir, removeLeftoversFor, type LeftoverPlaces } from './leftovers';
import type {
  NodeProcesses, NodeProcessesState, NodeRole, ProcessEvent, ProcessEventListener, ProcessName, ProcessState, WaitReady,
} from './types';

export interface SystemdOptions {
  readonly runner: CommandRunner;
  readonly log: Logger;
  /** Resolves once the local chmpx control port answers (the ctlport client; injected, not imported). */
  readonly waitReady: WaitReady;
  /** Default 'systemctl'. */
  readonly systemctl?: string;
  /** Default chmpx.service / k2hdkc.service: ours (guest-image/systemd/) replace the packaged helper units. */
  readonly units?: { readonly chmpx?: string; readonly k2hdkc?: string };
  /** Default 10 s. */
  readonly readyTimeoutMs?: number;
  /** The whole `systemctl stop`; default 14 s, inside Trove's 15 s stop_db (the units' own timeouts are shorter). */
  readonly stopTimeoutMs?: number;
  /** The INI the units run with (guest-image/systemd/); default /etc/antpickax/k2hdkc.ini. */
  readonly iniPath?: string;
  /** Where a crashed chmpx's files and queues are looked for before a start; false = leave them. */
  readonly leftovers?: LeftoverPlaces | false;
}

/** systemctl exits 5 for a unit that is not loaded: a slave image has no k2hdkc.service. */
const NOT_LOADED = 5;

/**
 * chmpx and k2hdkc as systemd units (guest-image/systemd/). systemd restarts them and gives up
 * after the units' start limit (state 'failed' = crashed); k2hdkc.service is BindsTo= and PartOf=
 * chmpx.service, so stopping or restarting chmpx takes k2hdkc with it.
 */
export class SystemdProcesses implements NodeProcesses {
  private readonly systemctl: string;
  private readonly units: Record<ProcessName, string>;
  private readonly listeners = new Set<ProcessEventListener>();
  private readonly last: Record<ProcessName, ProcessState> = { chmpx: 'stopped', k2hdkc: 'stopped' };
  private role: NodeRole | null = null;
  private lifecycle: AbortController | undefined;

  constructor(private readonly options: SystemdOptions) {
    this.systemctl = options.systemctl ?? 'systemctl';
    this.units = { chmpx: options.units?.chmpx ?? 'chmpx.service', k2hdkc: options.units?.k2hdkc ?? 'k2hdkc.service' };
  }

  async start(role: NodeRole, signal?: AbortSignal): Promise<void> {
    this.role = role;
    const lifecycle = new AbortController();
    this.lifecycle = lifecycle;
    const units = this.unitsFor(role);
    // A unit that hit its start limit stays 'failed' and refuses to start until reset.
    await this.ctl(['reset-failed', ...units], [0, 1, NOT_LOADED]);
    const iniPath = this.options.iniPath ?? '/etc/antpickax/k2hdkc.ini';
    // What a crashed chmpx left (files in use by a running one are kept); the unit's
    // ExecStartPre removes the .bup copies before systemd's own restarts as well.
    if (this.options.leftovers !== false) await removeLeftoversFor(iniPath, this.options.leftovers ?? {}, this.options.log);
    await this.ctl(['start', this.units.chmpx]);
    const timeoutMs = this.options.readyTimeoutMs ?? 10_000;
    const timeout = AbortSignal.timeout(timeoutMs);
    try {
      await this.options.waitReady(AbortSignal.any([lifecycle.signal, timeout, ...(signal ? [signal] : [])]));
    } catch (cause) {
      await this.stopUnits(units).catch(() => undefined);
      const why = timeout.aborted ? `did not answer within ${timeoutMs} ms` : `was not ready: ${(cause as Error).message}`;
      throw new ProcessError(`chmpx control port ${why}; see journalctl -u ${this.units.chmpx}`, { cause });
    }
    if (role === 'server') {
      await ensureDataFileDir(iniPath, this.options.log);
      await this.ctl(['start', this.units.k2hdkc]);
    }
    this.options.log.info({ role, units }, 'node units started');
  }

  async stop(): Promise<void> {
    this.lifecycle?.abort(new ProcessError('stopped'));
    // Unknown role (the agent restarted): stop both, a missing k2hdkc unit is fine.
    await this.stopUnits(this.role ? this.unitsFor(this.role) : [this.units.k2hdkc, this.units.chmpx]);
    this.options.log.info({ role: this.role }, 'node units stopped');
  }

  async restart(signal?: AbortSignal): Promise<void> {
    if (this.role === null) throw new ProcessError('Cannot restart chmpx/k2hdkc: they were never started');
    await this.stop();
    await this.start(this.role, signal);
  }

  async state(): Promise<NodeProcessesState> {
    const chmpx = await this.unitState('chmpx');
    const k2hdkc = this.role === 'server' ? await this.unitState('k2hdkc') : 'stopped';
    return { role: this.role, chmpx, k2hdkc };
  }

  onEvent(listener: ProcessEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private unitsFor(role: NodeRole): string[] {
    // k2hdkc first: systemd orders stop jobs in reverse of After= anyway; this reads the same way.
    return role === 'server' ? [this.units.k2hdkc, this.units.chmpx] : [this.units.chmpx];
  }

  private async stopUnits(units: readonly string[]): Promise<void> {
    await this.ctl(['stop', ...units], [0, NOT_LOADED], this.options.stopTimeoutMs ?? 14_000);
  }

  /** ActiveState/SubState → our state; reports transitions (auto-restart, failed) as events. */
  private async unitState(name: ProcessName): Promise<ProcessState> {
    const result = await this.ctl(['show', '--property=ActiveState,SubState', this.units[name]]);
    const props = new Map<string, string>();
    for (const line of result.stdout.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) props.set(line.slice(0, eq), line.slice(eq + 1).trim());
    }
    const state = mapUnitState(props.get('ActiveState') ?? 'inactive', props.get('SubState') ?? '');
    const before = this.last[name];
    this.last[name] = state;
    if (state !== before) {
      const type: ProcessEvent['type'] | undefined =
        state === 'crashed' ? 'crash-loop' : state === 'restarting' ? 'restarting' : state === 'running' ? 'spawned' : undefined;
      if (type) for (const listener of this.listeners) listener({ process: name, type });
    }
    return state;
  }

  private async ctl(args: readonly string[], okExitCodes?: readonly number[], timeoutMs = 30_000) {
    try {
      return await this.options.runner.run(this.systemctl, args, { timeoutMs, ...(okExitCodes ? { okExitCodes } : {}) });
    } catch (cause) {
      throw new ProcessError(`systemctl ${args.join(' ')} failed: ${(cause as Error).message}`, { cause });
    }
  }
}

/** systemd's unit ActiveState (and SubState for auto-restart) as a ProcessState. */
export function mapUnitState(activeState: string, subState: string): ProcessState {
  switch (activeState) {
    case 'active':
    case 'reloading':
      return 'running';
    case 'activating':
      return subState === 'auto-restart' ? 'restarting' : 'starting';
    case 'deactivating':
      return 'stopping';
    case 'failed':
      return 'crashed';
    default:
      return 'stopped';
  }
}
