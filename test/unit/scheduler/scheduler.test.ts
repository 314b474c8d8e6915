import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseSchedulerConfig, type ScheduleConfig } from '../../../src/scheduler/config';
import { createSchedulerLogger } from '../../../src/scheduler/main';
import { SchedulerMetrics } from '../../../src/scheduler/metrics';
import { ownerMarker } from '../../../src/scheduler/ownership';
import type { BackupApi, Clock } from '../../../src/scheduler/runner';
import { BackupScheduler, type CronDriver } from '../../../src/scheduler/scheduler';
import type { CreateBackupRequest } from '../../../src/scheduler/trove-client';
import type { TroveBackup } from '../../../src/scheduler/trove-schemas';

const INSTANCE = '0b5ac4a1-3c1e-4f2a-9a55-1d2e3f4a5b6c';
const START = Date.UTC(2026, 10, 27, 2, 0, 0);

function schedule(extra = ''): ScheduleConfig {
  const text = `[keystone]\nauth_url = http://k:5000\napplication_credential_id = i\napplication_credential_secret = s\n` +
    `[schedule:nightly]\ninstance_id = ${INSTANCE}\ncron = 0 2 * * *\nkeep_last = 2\n${extra}`;
  return parseSchedulerConfig(text, 't.conf').schedules[0] as ScheduleConfig;
}

/** An in-memory backup store behaving like Trove's list/create/show/delete (ids are counters). */
class MemoryApi implements BackupApi {
  backups: TroveBackup[] = [];
  private next = 1;
  constructor(private readonly clock: { now(): number }) {}
  async listForInstance(instanceId: string) {
    return this.backups.filter((b) => b.instance_id === instanceId).map((b) => ({ ...b }));
  }
  async create(req: CreateBackupRequest) {
    const b: TroveBackup = { id: `b${this.next++}`, name: req.name, description: req.description, instance_id: req.instanceId, created: new Date(this.clock.now()).toISOString().slice(0, 19), status: 'NEW' };
    this.backups.push(b);
    return { ...b };
  }
  async get(id: string) {
    const b = this.backups.find((x) => x.id === id);
    return b ? { ...b } : undefined;
  }
  async delete(id: string) {
    this.backups = this.backups.filter((b) => b.id !== id);
  }
}

/** A clock whose sleep advances time at once and lets the test act at each poll (no real waiting). */
class ManualClock implements Clock {
  t = START;
  onSleep: (() => void | Promise<void>) | undefined;
  now = (): number => this.t;
  sleep = async (ms: number, signal: AbortSignal): Promise<void> => {
    if (signal.aborted) throw new Error('aborted');
    this.t += ms;
    await this.onSleep?.();
    if (signal.aborted) throw new Error('aborted');
  };
}

/** The cron driver of a test: records registrations; the test fires them. */
class ManualCron implements CronDriver {
  readonly registered: { name: string; expression: string; stopped: boolean }[] = [];
  schedule(name: string, expression: string) {
    const entry = { name, expression, stopped: false };
    this.registered.push(entry);
    return { stop: () => void (entry.stopped = true) };
  }
}

function setup(extra = '') {
  const clock = new ManualClock();
  const api = new MemoryApi(clock);
  const metrics = new SchedulerMetrics();
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done(); } });
  const cron = new ManualCron();
  const sched = schedule(extra);
  const scheduler = new BackupScheduler({ schedules: [sched], api, metrics, log: createSchedulerLogger('debug', sink), pollIntervalMs: 30_000, waitTimeoutMs: 3600_000, clock, cron });
  scheduler.start();
  return { clock, api, metrics, lines, cron, scheduler, labels: { schedule: 'nightly' } };
}

describe('BackupScheduler', () => {
  it('creates a backup named from the clock, polls until COMPLETED, then applies retention', async () => {
    const { clock, api, metrics, scheduler, cron, labels } = setup();
    expect(cron.registered).toEqual([{ name: 'nightly', expression: '0 2 * * *', stopped: false }]);
    api.backups.push(
      { id: 'old1', name: 'sched-nightly-20261101T020000Z', description: ownerMarker('nightly'), instance_id: INSTANCE, created: '2026-11-01T02:00:00', status: 'COMPLETED' },
      { id: 'old2', name: 'sched-nightly-20261102T020000Z', description: ownerMarker('nightly'), instance_id: INSTANCE, created: '2026-11-02T02:00:00', status: 'COMPLETED' },
      { id: 'user', name: 'before-upgrade', description: null, instance_id: INSTANCE, created: '2026-10-01T02:00:00', status: 'COMPLETED' },
    );
    let polls = 0;
    clock.onSleep = () => {
      polls += 1;
      const created = api.backups.find((b) => b.status === 'NEW' || b.status === 'BUILDING');
      if (created) created.status = polls === 1 ? 'BUILDING' : 'COMPLETED';
    };
    expect(await scheduler.fire('nightly')).toBe('completed');
    expect(polls).toBe(2);
    const made = api.backups.find((b) => b.name === 'sched-nightly-20261127T020000Z');
    expect(made).toMatchObject({ status: 'COMPLETED', description: 'k2hdkc-trove-scheduler schedule=nightly', instance_id: INSTANCE });
    expect(api.backups.map((b) => b.id).sort()).toEqual([made?.id, 'old2', 'user'].sort());
    expect(metrics.get('k2hdkc_scheduler_deletions_total', labels)).toBe(1);
    expect(metrics.get('k2hdkc_scheduler_backups_created_total', labels)).toBe(1);
    expect(metrics.get('k2hdkc_scheduler_last_success_timestamp_seconds', labels)).toBe((START + 60_000) / 1000);
  });

  it('skips while any backup of the instance is running, and creates nothing', async () => {
    const { api, metrics, lines, scheduler, labels } = setup();
    api.backups.push({ id: 'manual', name: 'manual', description: null, instance_id: INSTANCE, created: '2026-11-27T01:59:00', status: 'SAVING' });
    expect(await scheduler.fire('nightly')).toBe('skipped_running');
    expect(api.backups).toHaveLength(1);
    expect(metrics.get('k2hdkc_scheduler_skips_total', { ...labels, reason: 'backup_running' })).toBe(1);
    expect(lines.find((l) => l['msg'] === 'skipped: a backup of this instance is still running')).toMatchObject({ schedule: 'nightly', runningBackupId: 'manual', status: 'SAVING' });
  });

  it('skips a firing while the previous run still waits, then runs again once it ended', async () => {
    const { clock, api, metrics, scheduler, labels } = setup();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    clock.onSleep = async () => {
      await gate;
      for (const b of api.backups) b.status = 'COMPLETED';
    };
    const first = scheduler.fire('nightly');
    await new Promise<void>((r) => setImmediate(r));
    expect(await scheduler.fire('nightly')).toBe('skipped_in_progress');
    release();
    expect(await first).toBe('completed');
    clock.onSleep = () => void api.backups.forEach((b) => (b.status = 'COMPLETED'));
    expect(await scheduler.fire('nightly')).toBe('completed');
    expect(metrics.get('k2hdkc_scheduler_skips_total', { ...labels, reason: 'in_progress' })).toBe(1);
    expect(metrics.get('k2hdkc_scheduler_runs_total', labels)).toBe(3);
  });

  it('counts a FAILED backup and a wait that times out as failures, still applying retention', async () => {
    const { clock, api, metrics, scheduler, labels } = setup();
    clock.onSleep = () => void api.backups.forEach((b) => (b.status = 'FAILED'));
    expect(await scheduler.fire('nightly')).toBe('failed');
    clock.onSleep = undefined; // the next backup stays NEW: the clock runs past wait_timeout
    clock.t += 86400_000;
    api.backups = [];
    expect(await scheduler.fire('nightly')).toBe('timeout');
    expect(metrics.get('k2hdkc_scheduler_failures_total', { ...labels, stage: 'backup' })).toBe(1);
    expect(metrics.get('k2hdkc_scheduler_failures_total', { ...labels, stage: 'wait' })).toBe(1);
    expect(api.backups.map((b) => b.status)).toEqual(['NEW']);
  });

  it('keeps polling when reading the backup status fails once', async () => {
    const { clock, api, lines, scheduler } = setup();
    const realGet = api.get.bind(api);
    let calls = 0;
    api.get = async (id: string) => {
      calls += 1;
      if (calls === 1) throw new Error('Trove API GET /backups/b1 failed: socket hang up');
      return realGet(id);
    };
    clock.onSleep = () => void api.backups.forEach((b) => (b.status = 'COMPLETED'));
    expect(await scheduler.fire('nightly')).toBe('completed');
    expect(calls).toBe(2);
    expect(lines.find((l) => l['msg'] === 'cannot read the backup status; will retry')).toMatchObject({ level: 'warn', backupId: 'b1' });
  });

  it('turns an API error into a logged, counted failure instead of throwing', async () => {
    const { api, metrics, lines, scheduler, labels } = setup();
    api.create = async () => {
      throw new Error('Trove refused to create backup (422): instance busy');
    };
    expect(await scheduler.fire('nightly')).toBe('error');
    expect(metrics.get('k2hdkc_scheduler_failures_total', { ...labels, stage: 'create' })).toBe(1);
    expect(lines.find((l) => l['level'] === 'error')).toMatchObject({ msg: 'scheduled backup failed', err: { message: expect.stringContaining('422') } });
  });

  it('stop() ends the wait of a running backup and stops the cron tasks', async () => {
    const { clock, api, scheduler, cron } = setup();
    let stopping: Promise<void> | undefined;
    clock.onSleep = () => {
      stopping ??= scheduler.stop();
    };
    expect(await scheduler.fire('nightly')).toBe('timeout');
    await stopping;
    expect(cron.registered[0]?.stopped).toBe(true);
    expect(api.backups.map((b) => b.status)).toEqual(['NEW']);
    expect(await scheduler.fire('nightly')).toBe('stopped');
  });
});
