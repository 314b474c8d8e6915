import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../log';
import { ProcessError } from '../../errors';
import { ChildSupervisor, type RestartPolicy } from './child';
import { ensureDataFileDir, removeLeftoversFor, type LeftoverPlaces } from './leftovers';
import { ensureMqueueMsgMax, CHMPX_MQUEUE_MSG_MAX } from './mqueue';
import { isLiveProcess, readPidFile } from './pidfile';
import type {
  NodeProcesses, NodeProcessesState, NodeRole, ProcessEvent, ProcessEventListener, WaitReady,
} from './types';

/**
 * A daemon's program and arguments; default: the real binary's name, `-conf <ini>` and `-d err`
 * (spec §5.1: both are silent by default, and an exit without a word in their log helps nobody).
 */
export interface DaemonCommand {
  readonly command?: string;
  readonly args?: readonly string[];
}

export interface SupervisorOptions {
  /** The shared CHMPX/K2HDKC INI both daemons read. */
  readonly iniPath: string;
  /** Pid files `chmpx.pid` / `k2hdkc.pid` go here (the packages use /var/run/antpickax). */
  readonly runDir: string;
  /** `chmpx.log` / `k2hdkc.log` (stdout + stderr) go here; unset = output discarded. */
  readonly logDir?: string;
  /** Resolves once the local chmpx control port answers (the ctlport client; injected, not imported). */
  readonly waitReady: WaitReady;
  readonly log: Logger;
  readonly chmpx?: DaemonCommand;
  readonly k2hdkc?: DaemonCommand;
  readonly env?: NodeJS.ProcessEnv;
  /** How long chmpx gets to answer on its control port; default 10 s (observed: under 1 s). */
  readonly readyTimeoutMs?: number;
  /**
   * Grace before SIGKILL; defaults 6 s for k2hdkc (observed 2-4 s on TERM) and 4 s for chmpx, so
   * a whole stop stays under Trove's 15 s stop_db budget even when both need SIGKILL.
   */
  readonly stopTimeoutMs?: { readonly chmpx?: number; readonly k2hdkc?: number };
  /**
   * Pause between k2hdkc's exit and chmpx's SIGINT; default 500 ms. SIGINT right after its client
   * left crashes chmpx (SIGSEGV, 5 of 5 observed), 0.3 s later it did not (3 of 3).
   */
  readonly chmpxSettleMs?: number;
  /** Where chmpx's shared memory files and queues live, cleaned before each chmpx start; false = leave them. */
  readonly leftovers?: LeftoverPlaces | false;
  readonly restart?: Partial<RestartPolicy>;
  /** Raise /proc/sys/fs/mqueue/msg_max before chmpx starts; false = leave it alone. */
  readonly mqueue?: { readonly minMsgMax?: number; readonly path?: string } | false;
  /** Clock for the crash-loop window (tests). */
  readonly now?: () => number;
}

const DEFAULT_RESTART: RestartPolicy = { initialDelayMs: 500, maxDelayMs: 10_000, factor: 2, maxCrashes: 5, windowMs: 60_000 };

/**
 * The agent itself runs chmpx and k2hdkc (development, tests, images without systemd): chmpx first,
 * k2hdkc once chmpx's control port answers, stop in reverse; a chmpx crash takes k2hdkc down with
 * it and brings it back once chmpx answers again (k2hdkc-observed.md: stop and start them together).
 */
export class ProcessSupervisor implements NodeProcesses {
  private readonly chmpx: ChildSupervisor;
  private readonly k2hdkc: ChildSupervisor;
  private readonly listeners = new Set<ProcessEventListener>();
  private role: NodeRole | null = null;
  private starting = false;
  private lifecycle: AbortController | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** The k2hdkc stop a chmpx crash started; recovery waits for it before starting k2hdkc again. */
  private k2hdkcDown: Promise<void> = Promise.resolve();

  constructor(private readonly options: SupervisorOptions) {
    const restart = { ...DEFAULT_RESTART, ...options.restart };
    const logFile = (name: string) => (options.logDir ? join(options.logDir, `${name}.log`) : undefined);
    const spec = (name: 'chmpx' | 'k2hdkc', stopSignal: NodeJS.Signals, cmd: DaemonCommand = {}) => ({
      name,
      command: cmd.command ?? name,
      args: cmd.args ?? ['-conf', options.iniPath, '-d', 'err'],
      stopSignal,
      pidFile: join(options.runDir, `${name}.pid`),
      ...(logFile(name) ? { logFile: logFile(name) } : {}),
      ...(options.env ? { env: options.env } : {}),
    });
    const log = options.log;
    const emit = (event: ProcessEvent) => this.onChildEvent(event);
    // chmpx ignores SIGTERM; SIGINT stops it cleanly (k2hdkc-observed.md). Before each of its
    // starts (restarts after a crash too) what a crashed chmpx left is removed.
    const leftovers = options.leftovers;
    const chmpxSpec = {
      ...spec('chmpx', 'SIGINT', options.chmpx),
      ...(leftovers === false ? {} : { beforeSpawn: () => removeLeftoversFor(options.iniPath, leftovers ?? {}, log) }),
    };
    this.chmpx = new ChildSupervisor(chmpxSpec, restart, log, emit, options.now);
    this.k2hdkc = new ChildSupervisor(spec('k2hdkc', 'SIGTERM', options.k2hdkc), restart, log, emit, options.now);
  }

  start(role: NodeRole, signal?: AbortSignal): Promise<void> {
    return this.serialise(() => this.doStart(role, signal));
  }

  stop(): Promise<void> {
    // Abort a start that is still waiting for chmpx, so stop_db does not queue behind it.
    this.lifecycle?.abort(new ProcessError('stopped while starting'));
    return this.serialise(() => this.doStop());
  }

  restart(signal?: AbortSignal): Promise<void> {
    return this.serialise(async () => {
      const role = this.role;
      if (role === null) throw new ProcessError('Cannot restart chmpx/k2hdkc: they were never started');
      await this.doStop();
      await this.doStart(role, signal);
    });
  }

  async state(): Promise<NodeProcessesState> {
    return {
      role: this.role,
      chmpx: this.chmpx.state,
      k2hdkc: this.role === 'server' ? this.k2hdkc.state : 'stopped',
    };
  }

  onEvent(listener: ProcessEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private async doStart(role: NodeRole, signal?: AbortSignal): Promise<void> {
    if (this.chmpx.state !== 'stopped' && this.chmpx.state !== 'crashed') {
      if (this.role === role) return;
      throw new ProcessError(`chmpx is already running as a ${this.role ?? 'node'}; stop it before starting as a ${role}`);
    }
    this.role = role;
    const lifecycle = new AbortController();
    this.lifecycle = lifecycle;
    const { log } = this.options;
    await fs.mkdir(this.options.runDir, { recursive: true, mode: 0o750 });
    if (this.options.logDir) await fs.mkdir(this.options.logDir, { recursive: true, mode: 0o750 });
    await this.refuseStrays(role);
    if (this.options.mqueue !== false) {
      const mq = this.options.mqueue ?? {};
      await ensureMqueueMsgMax(log, mq.minMsgMax ?? CHMPX_MQUEUE_MSG_MAX, mq.path);
    }
    this.starting = true;
    try {
      await this.chmpx.start();
      await this.awaitReady(lifecycle.signal, signal);
      if (role === 'server') {
        await ensureDataFileDir(this.options.iniPath, log);
        await this.k2hdkc.start();
      }
    } catch (err) {
      await this.stopBoth();
      throw err instanceof ProcessError ? err : new ProcessError(`Could not start chmpx/k2hdkc: ${String(err)}`, { cause: err });
    } finally {
      this.starting = false;
    }
    log.info({ role }, 'node processes started');
  }

  private async doStop(): Promise<void> {
    this.lifecycle?.abort(new ProcessError('stopped'));
    this.lifecycle = undefined;
    await this.stopBoth();
    this.options.log.info({ role: this.role }, 'node processes stopped');
  }

  /**
   * k2hdkc first (it detaches from chmpx's queues), then, once chmpx has had time to see its
   * client leave, chmpx; SIGKILL only when either outlives its grace.
   */
  private async stopBoth(): Promise<void> {
    const timeouts = this.options.stopTimeoutMs ?? {};
    const k2hdkc = await this.k2hdkc.stop(timeouts.k2hdkc ?? 6_000);
    if (k2hdkc !== undefined && this.chmpx.state === 'running') {
      await new Promise((resolve) => setTimeout(resolve, this.options.chmpxSettleMs ?? 500));
    }
    const chmpx = await this.chmpx.stop(timeouts.chmpx ?? 4_000);
    if (chmpx?.signal !== undefined && chmpx.signal !== null && chmpx.signal !== 'SIGINT') {
      this.options.log.warn({ signal: chmpx.signal }, 'chmpx did not stop cleanly; its leftovers are removed at its next start');
    }
  }

  /**
   * Waits for the control port, failing fast when chmpx exits, the caller aborts, stop() is called
   * or readyTimeoutMs passes. k2hdkc started before chmpx answers exits at once (observed).
   */
  private async awaitReady(lifecycle: AbortSignal, caller?: AbortSignal): Promise<void> {
    const timeoutMs = this.options.readyTimeoutMs ?? 10_000;
    const exited = new AbortController();
    const unsubscribe = this.onEvent((e) => {
      if (e.process === 'chmpx' && e.type === 'exited') {
        exited.abort(new ProcessError(`chmpx exited (code ${e.exitCode ?? 'none'}, signal ${e.signal ?? 'none'}) before its control port answered; check ${this.options.iniPath} and the chmpx log`));
      }
    });
    const timeout = AbortSignal.timeout(timeoutMs);
    const signals = [lifecycle, exited.signal, timeout, ...(caller ? [caller] : [])];
    const signal = AbortSignal.any(signals);
    try {
      await Promise.race([
        this.options.waitReady(signal),
        new Promise<never>((_, reject) => {
          const fail = () => reject(signal.reason);
          if (signal.aborted) fail();
          else signal.addEventListener('abort', fail, { once: true });
        }),
      ]);
    } catch (cause) {
      if (exited.signal.aborted) throw exited.signal.reason;
      if (timeout.aborted) {
        throw new ProcessError(`chmpx control port did not answer within ${timeoutMs} ms; check ${this.options.iniPath} and the chmpx log`, { cause });
      }
      if (lifecycle.aborted) throw new ProcessError('Start of chmpx/k2hdkc was cancelled by a stop', { cause });
      if (caller?.aborted) throw new ProcessError('Start of chmpx/k2hdkc was cancelled', { cause });
      throw new ProcessError(`Waiting for the chmpx control port failed: ${(cause as Error).message}`, { cause });
    } finally {
      unsubscribe();
    }
  }

  /** A pid file naming a live daemon means someone else runs one: two chmpx on one INI fight over the MQs. */
  private async refuseStrays(role: NodeRole): Promise<void> {
    const names = role === 'server' ? (['chmpx', 'k2hdkc'] as const) : (['chmpx'] as const);
    for (const name of names) {
      const pidFile = join(this.options.runDir, `${name}.pid`);
      const pid = await readPidFile(pidFile);
      const command = this.options[name]?.command ?? name;
      if (pid !== undefined && (await isLiveProcess(pid, command))) {
        throw new ProcessError(`${name} is already running as pid ${pid} (${pidFile}); stop it first`);
      }
    }
  }

  private onChildEvent(event: ProcessEvent): void {
    for (const listener of this.listeners) listener(event);
    if (event.process !== 'chmpx' || this.role !== 'server' || this.starting) return;
    if (event.type === 'exited' || event.type === 'crash-loop') {
      // k2hdkc stays attached to a dead chmpx's queues as an orphan (observed); take it down too.
      this.k2hdkcDown = this.k2hdkc.stop(this.options.stopTimeoutMs?.k2hdkc ?? 6_000).then(
        () => undefined,
        (err: Error) => this.options.log.error({ err: err.message }, 'could not stop k2hdkc after chmpx exited'),
      );
    } else if (event.type === 'spawned') {
      void this.recoverK2hdkc();
    }
  }

  /** After chmpx was restarted: wait for its control port, then start k2hdkc again. */
  private async recoverK2hdkc(): Promise<void> {
    const lifecycle = this.lifecycle;
    if (!lifecycle) return;
    try {
      await this.k2hdkcDown;
      await this.awaitReady(lifecycle.signal);
      if (!lifecycle.signal.aborted) await this.k2hdkc.start();
    } catch (err) {
      // Stopped meanwhile, or chmpx died again (its own restart brings us back here).
      if (lifecycle.signal.aborted || this.chmpx.state !== 'running') return;
      this.options.log.error({ err: (err as Error).message }, 'chmpx restarted but is not ready; restarting it again');
      this.chmpx.forceCrash();
    }
  }

  private serialise<T>(op: () => Promise<T>): Promise<T> {
    const next = this.queue.then(op, op);
    this.queue = next.catch(() => undefined);
    return next;
  }
}
