import { GuestStateError } from '../../errors';
import type { MethodEntry } from '../../rpc/types';
import { settledWithin } from '../../system/settled-within';

/** The prepare running now, and who aborted it (if anyone). */
interface RunningPrepare {
  readonly controller: AbortController;
  readonly settled: Promise<void>;
  abortedBy: string | null;
}

/**
 * Keeps node operations from racing a prepare. While prepare's datastore work runs (K2HR3,
 * INI, chmpx and k2hdkc starting), an operation that would start, restart or reconfigure the
 * node is refused with a clear "prepare in progress" failure: both would drive the same
 * processes and INI. stop_db instead aborts the prepare, waits for it to wind down, then
 * stops: a stop must not be refused (Trove sends it on resize, migrate, reboot).
 */
export class PrepareGuard {
  private current: RunningPrepare | null = null;

  get preparing(): boolean {
    return this.current !== null;
  }

  /**
   * Runs `work` as the prepare. Its signal fires when `callerSignal` does or when
   * abortPrepare() is called; an abort by an operation turns the failure into a
   * GuestStateError naming that operation, which is what the fault row then says.
   */
  async runPrepare<T>(callerSignal: AbortSignal, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.current !== null) throw new GuestStateError('A prepare is already running on this guest.');
    const controller = new AbortController();
    let settle: () => void = () => undefined;
    const running: RunningPrepare = { controller, settled: new Promise<void>((resolve) => (settle = resolve)), abortedBy: null };
    this.current = running;
    const abortedError = (): GuestStateError => new GuestStateError(`The prepare was aborted by ${running.abortedBy ?? '?'} before the node was ready.`);
    try {
      const result = await work(AbortSignal.any([callerSignal, controller.signal]));
      // Finished without noticing the abort: the node is being stopped, so it is no success.
      if (running.abortedBy !== null) throw abortedError();
      return result;
    } catch (error) {
      if (running.abortedBy !== null) throw abortedError();
      throw error;
    } finally {
      this.current = null;
      settle();
    }
  }

  /** Throws GuestStateError while a prepare runs; `operation` names the refused call. */
  refuseDuringPrepare(operation: string): void {
    if (this.current === null) return;
    throw new GuestStateError(`Cannot ${operation} now: a prepare is in progress on this guest; retry once the instance is active.`);
  }

  /**
   * Aborts the running prepare on behalf of `operation` and waits, at most `waitMs`, for it to
   * wind down. Resolves 'none' when no prepare ran, 'aborted' when it ended, 'still-running'
   * when it did not end in time (the caller goes on: its own stop cancels what is left).
   */
  async abortPrepare(operation: string, waitMs: number): Promise<'none' | 'aborted' | 'still-running'> {
    const running = this.current;
    if (running === null) return 'none';
    running.abortedBy ??= operation;
    running.controller.abort(new GuestStateError(`prepare aborted by ${operation}`));
    return settledWithin(running.settled, waitMs);
  }
}

/**
 * The same methods, each refused while a prepare runs (volume and configuration methods: each
 * touches the disk, the INI or the processes prepare is setting up). create_backup checks the
 * guard itself (methods/backup.ts): a refused cast must still set its backup row FAILED.
 */
export function refusedDuringPrepare(guard: Pick<PrepareGuard, 'refuseDuringPrepare'>, entries: readonly MethodEntry[]): MethodEntry[] {
  return entries.map((e) => ({
    ...e,
    handler: (args, call) => {
      guard.refuseDuringPrepare(e.name);
      return e.handler(args, call);
    },
  }));
}
