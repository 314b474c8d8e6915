import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import type { Logger } from '../../log';
import { ProcessError } from '../../errors';
import { removePidFile, writePidFile } from './pidfile';
import type { ProcessEvent, ProcessName, ProcessState } from './types';

/** How to run one daemon. */
export interface ChildSpec {
  readonly name: ProcessName;
  readonly command: string;
  readonly args: readonly string[];
  /** chmpx ignores SIGTERM and stops on SIGINT; k2hdkc stops on SIGTERM (k2hdkc-observed.md). */
  readonly stopSignal: NodeJS.Signals;
  readonly pidFile: string;
  /** stdout and stderr are appended here (mode 0640); unset = discarded. */
  readonly logFile?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Runs before every spawn, restarts included (chmpx: remove what a crashed one left). */
  readonly beforeSpawn?: () => Promise<void>;
}

/** Restart with exponential backoff; `maxCrashes` within `windowMs` is a crash loop and restarts stop. */
export interface RestartPolicy {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly factor: number;
  readonly maxCrashes: number;
  readonly windowMs: number;
}

/** Keeps one daemon running: spawn, pid file, restart on unexpected exit, stop with escalation. */
export class ChildSupervisor {
  private current: ChildProcess | undefined;
  private status: ProcessState = 'stopped';
  private wanted = false;
  private crashes: number[] = [];
  private restartTimer: NodeJS.Timeout | undefined;
  private exitWaiters: Array<() => void> = [];
  private exitHandled: Promise<void> = Promise.resolve();

  constructor(
    private readonly spec: ChildSpec,
    private readonly policy: RestartPolicy,
    private readonly log: Logger,
    private readonly emit: (event: ProcessEvent) => void,
    private readonly now: () => number = Date.now,
  ) {}

  get state(): ProcessState {
    return this.status;
  }

  get pid(): number | undefined {
    return this.current?.pid;
  }

  /** Spawns the daemon (clearing any crash history); resolves with its pid, rejects with ProcessError. */
  async start(): Promise<number> {
    if (this.current) return this.current.pid ?? 0;
    this.wanted = true;
    this.crashes = [];
    this.clearRestart();
    this.status = 'starting';
    try {
      return await this.spawnOnce();
    } catch (err) {
      this.wanted = false;
      this.status = 'stopped';
      throw err;
    }
  }

  /**
   * Sends the stop signal, then SIGKILL after `timeoutMs`; resolves when the process is gone, with
   * how it ended (undefined when it was not running).
   */
  async stop(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined> {
    this.wanted = false;
    this.clearRestart();
    const child = this.current;
    if (!child) {
      if (this.status !== 'stopped') this.setStopped();
      return undefined;
    }
    this.status = 'stopping';
    this.log.info({ process: this.spec.name, pid: child.pid, signal: this.spec.stopSignal }, 'stopping');
    child.kill(this.spec.stopSignal);
    if (!(await this.waitExit(timeoutMs))) {
      this.log.warn({ process: this.spec.name, pid: child.pid, timeoutMs }, 'did not stop in time; sending SIGKILL');
      child.kill('SIGKILL');
      if (!(await this.waitExit(2_000))) {
        throw new ProcessError(`${this.spec.name} (pid ${child.pid}) did not exit after SIGKILL`);
      }
    }
    // The exit handler removes the pid file; callers may look at it as soon as stop() resolves.
    await this.exitHandled;
    return { code: child.exitCode, signal: child.signalCode };
  }

  /** Kills the running daemon as if it had crashed (counts toward the crash loop, then restarts). */
  forceCrash(): void {
    this.current?.kill('SIGKILL');
  }

  private async spawnOnce(): Promise<number> {
    let log: fs.FileHandle | undefined;
    let child: ChildProcess;
    await this.spec.beforeSpawn?.().catch((err: Error) =>
      this.log.warn({ process: this.spec.name, err: err.message }, 'preparing the start failed; starting anyway'),
    );
    try {
      log = this.spec.logFile ? await fs.open(this.spec.logFile, 'a', 0o640) : undefined;
      const out = log ? log.fd : 'ignore';
      child = spawn(this.spec.command, [...this.spec.args], {
        shell: false,
        stdio: ['ignore', out, out],
        env: this.spec.env ?? process.env,
      });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
    } catch (cause) {
      throw new ProcessError(`Could not start ${this.spec.name} (${this.spec.command}): ${(cause as Error).message}`, {
        cause,
      });
    } finally {
      await log?.close();
    }
    const pid = child.pid ?? 0;
    this.current = child;
    this.status = 'running';
    child.once('exit', (code, signal) => {
      if (this.current === child) this.current = undefined;
      this.exitHandled = this.onExit(pid, code, signal);
    });
    await writePidFile(this.spec.pidFile, pid).catch((err: Error) =>
      this.log.warn({ process: this.spec.name, err: err.message }, 'pid file not written'),
    );
    this.log.info({ process: this.spec.name, pid, command: this.spec.command, args: this.spec.args }, 'spawned');
    this.emit({ process: this.spec.name, type: 'spawned', pid });
    return pid;
  }

  private async onExit(pid: number, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    await removePidFile(this.spec.pidFile, pid).catch(() => undefined);
    if (!this.wanted) {
      this.log.info({ process: this.spec.name, pid, exitCode: code, signal }, 'stopped');
      this.setStopped();
      return;
    }
    this.log.warn({ process: this.spec.name, pid, exitCode: code, signal }, 'exited unexpectedly');
    this.emit({ process: this.spec.name, type: 'exited', pid, exitCode: code, signal });
    this.onCrash();
  }

  private onCrash(): void {
    const now = this.now();
    this.crashes = [...this.crashes.filter((t) => now - t < this.policy.windowMs), now];
    if (this.crashes.length >= this.policy.maxCrashes) {
      this.wanted = false;
      this.status = 'crashed';
      this.log.error(
        { process: this.spec.name, crashes: this.crashes.length, windowMs: this.policy.windowMs },
        'crash loop; not restarting',
      );
      this.emit({ process: this.spec.name, type: 'crash-loop' });
      this.release();
      return;
    }
    const { initialDelayMs, factor, maxDelayMs } = this.policy;
    const delayMs = Math.min(maxDelayMs, Math.round(initialDelayMs * factor ** (this.crashes.length - 1)));
    this.status = 'restarting';
    this.emit({ process: this.spec.name, type: 'restarting', delayMs });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.wanted) return;
      this.spawnOnce().catch((err: Error) => {
        this.log.warn({ process: this.spec.name, err: err.message }, 'restart failed');
        if (this.wanted) this.onCrash();
      });
    }, delayMs);
  }

  private setStopped(): void {
    this.status = 'stopped';
    this.emit({ process: this.spec.name, type: 'stopped' });
    this.release();
  }

  private release(): void {
    const waiters = this.exitWaiters;
    this.exitWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private waitExit(timeoutMs: number): Promise<boolean> {
    if (!this.current) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.exitWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  private clearRestart(): void {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
  }
}
