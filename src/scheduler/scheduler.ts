import { createTask } from 'node-cron';
import type { Logger } from 'pino';
import type { ScheduleConfig } from './config';
import type { SchedulerMetrics } from './metrics';
import { sleep } from '../system/sleep';
import { runSchedule, type BackupApi, type Clock, type RunOutcome } from './runner';

/** Fires a callback on a cron expression; node-cron in production, a manual tick in tests. */
export interface CronDriver {
  schedule(name: string, expression: string, fire: () => void): { stop(): void };
}

/**
 * node-cron 4: one task per schedule, in the controller's local time zone (usually UTC). Its
 * own messages (missed executions after a suspend, say) go to our logger, not to stdout, which
 * carries only pino's JSON lines.
 */
export function createNodeCronDriver(log: Logger): CronDriver {
  const logger = {
    info: (m: string) => log.info({ component: 'node-cron' }, m),
    warn: (m: string) => log.warn({ component: 'node-cron' }, m),
    error: (m: string | Error, err?: Error) => log.error({ component: 'node-cron', err: err ?? m }, String(m)),
    debug: (m: string | Error) => log.debug({ component: 'node-cron' }, String(m)),
  };
  return {
    schedule(name, expression, fire) {
      const task = createTask(expression, () => fire(), { name, logger });
      void task.start();
      return { stop: () => void task.destroy() };
    },
  };
}

/** Real time; `sleep` ends early (rejecting) when the signal aborts, so SIGTERM is not held up. */
export const systemClock: Clock = { now: () => Date.now(), sleep };

export interface BackupSchedulerOptions {
  readonly schedules: readonly ScheduleConfig[];
  readonly api: BackupApi;
  readonly metrics: SchedulerMetrics;
  readonly log: Logger;
  readonly pollIntervalMs: number;
  readonly waitTimeoutMs: number;
  readonly clock?: Clock;
  readonly cron?: CronDriver;
}

/**
 * Owns the cron tasks and the runs they start. A schedule has at most one run at a time: a
 * firing while the previous run still waits for its backup is skipped (`in_progress`), which
 * also covers a backup that outlives its cron interval.
 */
export class BackupScheduler {
  private readonly inFlight = new Map<string, Promise<RunOutcome>>();
  private readonly tasks: { stop(): void }[] = [];
  private readonly abort = new AbortController();
  private readonly clock: Clock;

  constructor(private readonly o: BackupSchedulerOptions) {
    this.clock = o.clock ?? systemClock;
  }

  /** Registers every schedule with the cron driver. */
  start(): void {
    const cron = this.o.cron ?? createNodeCronDriver(this.o.log);
    for (const schedule of this.o.schedules) {
      this.tasks.push(cron.schedule(schedule.name, schedule.cron, () => void this.fire(schedule.name)));
      this.o.log.info({ schedule: schedule.name, instanceId: schedule.instanceId, cron: schedule.cron }, 'schedule registered');
    }
  }

  /** One firing of the named schedule (what cron calls); resolves with the run's outcome. */
  fire(name: string): Promise<RunOutcome> {
    const schedule = this.o.schedules.find((s) => s.name === name);
    if (!schedule) return Promise.reject(new Error(`no schedule named ${name}`));
    if (this.abort.signal.aborted) return Promise.resolve('stopped');
    if (this.inFlight.has(name)) {
      this.o.metrics.inc('k2hdkc_scheduler_runs_total', { schedule: name });
      this.o.metrics.inc('k2hdkc_scheduler_skips_total', { schedule: name, reason: 'in_progress' });
      this.o.log.warn({ schedule: name }, 'skipped: the previous run of this schedule has not finished');
      return Promise.resolve('skipped_in_progress');
    }
    const run = runSchedule(schedule, { ...this.o, clock: this.clock, signal: this.abort.signal }).finally(() =>
      this.inFlight.delete(name),
    );
    this.inFlight.set(name, run);
    return run;
  }

  /** Stops firing, ends the waits (backups go on in Trove), and waits for runs to return. */
  async stop(): Promise<void> {
    for (const task of this.tasks.splice(0)) task.stop();
    this.abort.abort();
    await Promise.allSettled([...this.inFlight.values()]);
  }
}
