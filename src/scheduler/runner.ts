import type { Logger } from 'pino';
import type { ScheduleConfig } from './config';
import type { SchedulerMetrics } from './metrics';
import { ownerMarker } from './ownership';
import { selectForDeletion } from './retention';
import type { CreateBackupRequest } from './trove-client';
import { RUNNING_STATES, type TroveBackup } from './trove-schemas';

/** The part of Trove's backup API a run needs (TroveBackupClient; a test may pass its own). */
export interface BackupApi {
  listForInstance(instanceId: string): Promise<TroveBackup[]>;
  create(req: CreateBackupRequest): Promise<TroveBackup>;
  get(id: string): Promise<TroveBackup | undefined>;
  delete(id: string): Promise<void>;
}

/** Time, injected so tests drive waits without real waiting. `sleep` rejects when aborted. */
export interface Clock {
  now(): number;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export type RunOutcome = 'completed' | 'failed' | 'timeout' | 'skipped_running' | 'skipped_in_progress' | 'error' | 'stopped';

export interface RunOptions {
  readonly api: BackupApi;
  readonly clock: Clock;
  readonly metrics: SchedulerMetrics;
  readonly log: Logger;
  readonly pollIntervalMs: number;
  readonly waitTimeoutMs: number;
  readonly signal: AbortSignal;
}

/**
 * One firing of a schedule: skip while any backup of the instance is still running (Trove
 * would refuse a second one), else create it through Trove's API, poll it until it ends (or the
 * wait times out, or we are stopping), then apply retention whatever the outcome. Never throws:
 * every failure is logged, counted and returned as the outcome.
 */
export async function runSchedule(schedule: ScheduleConfig, o: RunOptions): Promise<RunOutcome> {
  const labels = { schedule: schedule.name };
  const log = o.log.child({ schedule: schedule.name, instanceId: schedule.instanceId });
  o.metrics.inc('k2hdkc_scheduler_runs_total', labels);
  let outcome: RunOutcome;
  try {
    const existing = await o.api.listForInstance(schedule.instanceId);
    const running = existing.find((b) => RUNNING_STATES.includes(b.status));
    if (running) {
      o.metrics.inc('k2hdkc_scheduler_skips_total', { ...labels, reason: 'backup_running' });
      log.info({ runningBackupId: running.id, status: running.status }, 'skipped: a backup of this instance is still running');
      return 'skipped_running';
    }
    const name = schedule.nameTemplate.render(new Date(o.clock.now()));
    const created = await o.api.create({
      name,
      instanceId: schedule.instanceId,
      description: ownerMarker(schedule.name),
      swiftContainer: schedule.swiftContainer,
    });
    o.metrics.inc('k2hdkc_scheduler_backups_created_total', labels);
    log.info({ backupId: created.id, backupName: name }, 'backup requested');
    outcome = await waitForEnd(created, o, log);
    if (outcome === 'completed') o.metrics.set('k2hdkc_scheduler_last_success_timestamp_seconds', labels, Math.floor(o.clock.now() / 1000));
    if (outcome === 'failed') o.metrics.inc('k2hdkc_scheduler_failures_total', { ...labels, stage: 'backup' });
    if (outcome === 'timeout') o.metrics.inc('k2hdkc_scheduler_failures_total', { ...labels, stage: 'wait' });
  } catch (error) {
    o.metrics.inc('k2hdkc_scheduler_failures_total', { ...labels, stage: 'create' });
    log.error({ err: error }, 'scheduled backup failed');
    outcome = 'error';
  }
  // When stopping, leave retention to the next start rather than hold SIGTERM up.
  if (!o.signal.aborted) await applyRetention(schedule, o, log);
  return outcome;
}

async function waitForEnd(created: TroveBackup, o: RunOptions, log: Logger): Promise<RunOutcome> {
  const deadline = o.clock.now() + o.waitTimeoutMs;
  let current: TroveBackup | undefined = created;
  while (current && RUNNING_STATES.includes(current.status)) {
    if (o.clock.now() >= deadline || o.signal.aborted) {
      log.warn({ backupId: created.id, status: current.status }, 'stopped waiting for the backup; it goes on in Trove');
      return 'timeout';
    }
    try {
      await o.clock.sleep(o.pollIntervalMs, o.signal);
    } catch {
      return 'timeout';
    }
    try {
      current = await o.api.get(created.id);
    } catch (error) {
      // A poll that fails (Trove restarting, a 503) is not the backup failing: keep polling.
      log.warn({ err: error, backupId: created.id }, 'cannot read the backup status; will retry');
    }
  }
  if (current?.status === 'COMPLETED') {
    log.info({ backupId: created.id }, 'backup completed');
    return 'completed';
  }
  log.error({ backupId: created.id, status: current?.status ?? 'gone' }, 'backup did not complete');
  return 'failed';
}

/** Deletes what the policy selects, one by one, so one refused delete does not stop the rest. */
async function applyRetention(schedule: ScheduleConfig, o: RunOptions, log: Logger): Promise<void> {
  const labels = { schedule: schedule.name };
  let doomed: TroveBackup[];
  try {
    const backups = await o.api.listForInstance(schedule.instanceId);
    doomed = selectForDeletion(
      backups,
      { schedule: schedule.name, prefix: schedule.nameTemplate.prefix, keepLast: schedule.keepLast, maxAgeMs: schedule.maxAgeMs },
      o.clock.now(),
    );
  } catch (error) {
    o.metrics.inc('k2hdkc_scheduler_failures_total', { ...labels, stage: 'retention' });
    log.error({ err: error }, 'retention: cannot list backups');
    return;
  }
  for (const backup of doomed) {
    try {
      await o.api.delete(backup.id);
      o.metrics.inc('k2hdkc_scheduler_deletions_total', labels);
      log.info({ backupId: backup.id, backupName: backup.name, created: backup.created }, 'retention: backup deleted');
    } catch (error) {
      o.metrics.inc('k2hdkc_scheduler_failures_total', { ...labels, stage: 'retention' });
      log.error({ err: error, backupId: backup.id }, 'retention: delete failed');
    }
  }
}
