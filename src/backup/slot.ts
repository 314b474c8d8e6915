import { BackupError } from '../errors';
import { settledWithin } from '../system/settled-within';

interface RunningBackup {
  readonly id: string;
  readonly controller: AbortController;
  readonly settled: Promise<void>;
}

/**
 * The one backup a node runs at a time, and the agent's handle to abort it at shutdown: a backup
 * can run for many minutes, longer than any grace period, and one cut off by the process exit
 * would leave segments in Swift and its row BUILDING. Aborted, it removes what it uploaded and
 * reports FAILED while the broker connection is still open.
 */
export class BackupSlot {
  private current: RunningBackup | null = null;
  private closedReason: string | null = null;

  /** The id of the running backup, or null. */
  get running(): string | null {
    return this.current?.id ?? null;
  }

  /** Why backup `id` cannot start now (another runs, the agent is stopping), or null. */
  refusal(id: string): string | null {
    if (this.closedReason !== null) return `backup ${id} was not started: ${this.closedReason}`;
    if (this.current !== null) return `backup ${this.current.id} is still running on this node; backup ${id} was not started`;
    return null;
  }

  /**
   * Runs `work` as the node's backup; its signal fires when `callerSignal` does or at close().
   * Throws BackupError REFUSED (nothing started) when refusal() gives a reason: the check and
   * the claim happen together, so two casts arriving at once cannot both start.
   */
  async run<T>(id: string, callerSignal: AbortSignal, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const reason = this.refusal(id);
    if (reason !== null) throw new BackupError('REFUSED', reason);
    const controller = new AbortController();
    let settle: () => void = () => undefined;
    this.current = { id, controller, settled: new Promise<void>((resolve) => (settle = resolve)) };
    try {
      return await work(AbortSignal.any([callerSignal, controller.signal]));
    } finally {
      this.current = null;
      settle();
    }
  }

  /**
   * Refuses every later backup with `reason`, aborts the running one and waits at most `waitMs`
   * for it to wind down (cleanup and its FAILED report). 'none' when nothing ran.
   */
  async close(reason: string, waitMs: number): Promise<'none' | 'aborted' | 'still-running'> {
    this.closedReason ??= reason;
    return this.abort(reason, waitMs);
  }

  /**
   * Aborts the running backup with `reason` (later backups still start) and waits at most
   * `waitMs` for its cleanup and FAILED report. 'none' when nothing ran.
   */
  async abort(reason: string, waitMs: number): Promise<'none' | 'aborted' | 'still-running'> {
    const running = this.current;
    if (running === null) return 'none';
    running.controller.abort(new BackupError('ABORTED', `backup ${running.id} aborted: ${reason}`));
    return settledWithin(running.settled, waitMs);
  }
}
