import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import axios from 'axios';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseSchedulerConfig } from '../../../src/scheduler/config';
import { createSchedulerLogger, startScheduler, type SchedulerService } from '../../../src/scheduler/main';
import type { Clock } from '../../../src/scheduler/runner';
import type { CronDriver } from '../../../src/scheduler/scheduler';
import { TroveApiDouble } from '../../doubles/trove-api/server';

/**
 * The scheduler against the Keystone + Trove backup-API double over real HTTP. Polls do not wait
 * (the clock's sleep only yields); a test that needs cron itself uses node-cron every second.
 */

const PROJECT = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
const INSTANCE = '0b5ac4a1-3c1e-4f2a-9a55-1d2e3f4a5b6c';
const SECRET = 'app-cred-SECRET-7f3e9a';
const MARKER = 'k2hdkc-trove-scheduler schedule=nightly';

let double: TroveApiDouble;
let service: SchedulerService | undefined;
let lines: string[];
let offsetMs: number;

const clock: Clock = {
  now: () => Date.now() + offsetMs,
  sleep: () => new Promise<void>((r) => setImmediate(r)),
};
const noCron: CronDriver = { schedule: () => ({ stop: () => undefined }) };

async function start(options: { cron?: string; keepLast?: number; secret?: string; metrics?: boolean; realCron?: boolean } = {}): Promise<SchedulerService> {
  const base = await double.start();
  const text = [
    '[DEFAULT]',
    options.metrics ? 'metrics_listen = 127.0.0.1:0' : '',
    'poll_interval = 1',
    '[keystone]',
    `auth_url = ${base}/v3`,
    'application_credential_id = 5e1f0c2a',
    `application_credential_secret = ${options.secret ?? SECRET}`,
    '[schedule:nightly]',
    `instance_id = ${INSTANCE}`,
    `cron = ${options.cron ?? '0 2 * * *'}`,
    `keep_last = ${options.keepLast ?? 2}`,
  ].join('\n');
  const config = parseSchedulerConfig(text, 'scheduler.conf');
  const sink = new Writable({ write(chunk, _e, done) { lines.push(String(chunk)); done(); } });
  service = await startScheduler(config, { log: createSchedulerLogger('debug', sink), clock, ...(options.realCron ? {} : { cron: noCron }) });
  return service;
}

/** What `openstack database backup list --instance` would show: GET through the public API. */
async function listViaApi(): Promise<{ name: string; status: string; description: string | null }[]> {
  const base = double['base'] as string;
  const auth = await axios.post(`${base}/v3/auth/tokens`, { auth: { identity: { methods: ['application_credential'], application_credential: { id: '5e1f0c2a', secret: SECRET } } } });
  const res = await axios.get(`${base}/v1.0/${PROJECT}/backups`, { params: { instance_id: INSTANCE, limit: 100 }, headers: { 'X-Auth-Token': auth.headers['x-subject-token'] } });
  return res.data.backups;
}

/** The same list through python-troveclient + keystoneauth1 (Debian's), as the openstack CLI reads it. */
async function listViaTroveclient(): Promise<{ name: string; status: string; description: string | null }[]> {
  const script = join(__dirname, '..', '..', 'doubles', 'trove-api', 'troveclient_list.py');
  const { stdout } = await promisify(execFile)('/usr/bin/python3', [script, `${double['base'] as string}/v3`, '5e1f0c2a', SECRET, INSTANCE]);
  return JSON.parse(stdout);
}

function seedOurs(name: string, daysAgo: number): void {
  double.state.addBackup({ name, description: MARKER, instanceId: INSTANCE, projectId: PROJECT, created: new Date(Date.now() - daysAgo * 86400_000) });
}

beforeEach(() => {
  double = new TroveApiDouble({ projectId: PROJECT, appCredId: '5e1f0c2a', appCredSecret: SECRET, finishOnShow: 'COMPLETED', pageSize: 2, tokenTtlMs: 3600_000, now: () => new Date(clock.now()) });
  double.state.addInstance(INSTANCE, PROJECT);
  lines = [];
  offsetMs = 0;
});

afterEach(async () => {
  await service?.stop();
  service = undefined;
  await double.stop();
});

describe('scheduler against the Trove backup API double', () => {
  it('node-cron fires the schedule and the backup shows in the backup list, COMPLETED', async () => {
    const s = await start({ cron: '* * * * * *', realCron: true });
    while (s.metrics.get('k2hdkc_scheduler_last_success_timestamp_seconds', { schedule: 'nightly' }) === 0) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await s.stop();
    const listed = await listViaApi();
    expect(listed.length).toBeGreaterThanOrEqual(1);
    expect(listed[0]).toMatchObject({ status: 'COMPLETED', description: MARKER, name: expect.stringMatching(/^sched-nightly-\d{8}T\d{6}Z$/) });
    expect(double.seen.some((r) => r.method === 'POST' && r.url === `/v1.0/${PROJECT}/backups` && r.status === 202)).toBe(true);
  });

  it('skips while a backup of the instance is BUILDING and creates none', async () => {
    double.state.addBackup({ name: 'manual', instanceId: INSTANCE, projectId: PROJECT, status: 'BUILDING' });
    const s = await start();
    expect(await s.scheduler.fire('nightly')).toBe('skipped_running');
    expect((await listViaApi()).map((b) => b.name)).toEqual(['manual']);
    expect(double.seen.filter((r) => r.method === 'POST' && r.url.includes('/backups'))).toEqual([]);
  });

  it('retention deletes the oldest scheduled backups beyond N across pages, never a user backup', async () => {
    seedOurs('sched-nightly-20261101T020000Z', 26);
    seedOurs('sched-nightly-20261102T020000Z', 25);
    seedOurs('sched-nightly-20261103T020000Z', 24);
    double.state.addBackup({ name: 'sched-nightly-lookalike', description: 'mine', instanceId: INSTANCE, projectId: PROJECT, created: new Date(Date.now() - 40 * 86400_000) });
    double.state.addBackup({ name: 'before-upgrade', instanceId: INSTANCE, projectId: PROJECT, created: new Date(Date.now() - 50 * 86400_000) });
    const s = await start({ keepLast: 2 });
    expect(await s.scheduler.fire('nightly')).toBe('completed');
    const names = (await listViaApi()).map((b) => b.name);
    expect(names).toHaveLength(4);
    expect(names).toEqual(expect.arrayContaining(['before-upgrade', 'sched-nightly-lookalike', 'sched-nightly-20261103T020000Z']));
    expect(names.filter((n) => /^sched-nightly-\d{8}T\d{6}Z$/.test(n) && n !== 'sched-nightly-20261103T020000Z')).toHaveLength(1);
    expect(s.metrics.get('k2hdkc_scheduler_deletions_total', { schedule: 'nightly' })).toBe(2);
    // Trove's own client sees the same four, following the double's page links (page size 2).
    expect((await listViaTroveclient()).map((b) => b.name).sort()).toEqual([...names].sort());
    expect(double.seen.some((r) => r.url.includes('marker=2'))).toBe(true);
  });

  it('re-authenticates once after a 401 and the run succeeds', async () => {
    const s = await start();
    expect(await s.scheduler.fire('nightly')).toBe('completed');
    double.revokeTokens();
    expect(await s.scheduler.fire('nightly')).toBe('completed');
    expect(double.tokensIssued).toBe(2);
    expect(double.seen.filter((r) => r.status === 401)).toHaveLength(1);
  });

  it('renews the token before it expires, without waiting for a 401', async () => {
    const s = await start();
    expect(await s.scheduler.fire('nightly')).toBe('completed');
    offsetMs = 56 * 60_000; // 4 minutes before the 1 h expiry: inside the renewal margin
    expect(await s.scheduler.fire('nightly')).toBe('completed');
    expect(double.tokensIssued).toBe(2);
    expect(double.seen.filter((r) => r.status === 401)).toEqual([]);
  });

  it('a refused credential is a counted failure, and the secret appears in no log line', async () => {
    const s = await start({ secret: 'wrong-secret-value' });
    expect(await s.scheduler.fire('nightly')).toBe('error');
    expect(s.metrics.get('k2hdkc_scheduler_failures_total', { schedule: 'nightly', stage: 'create' })).toBe(1);
    const text = lines.join('');
    expect(text).toContain('refused application credential 5e1f0c2a (401)');
    expect(text).not.toContain('wrong-secret-value');
    expect(text).not.toContain(SECRET);
  });

  it("reports Trove's own refusal text when the instance cannot be backed up", async () => {
    double.state.addInstance(INSTANCE, PROJECT, 'SHUTDOWN');
    const s = await start();
    expect(await s.scheduler.fire('nightly')).toBe('error');
    const failure = lines.map((l) => JSON.parse(l) as { msg: string; err?: { message: string; code: string } }).find((l) => l.msg === 'scheduled backup failed');
    expect(failure?.err).toMatchObject({ code: 'K2H_ERR_SCHEDULER_HTTP', message: expect.stringContaining('(422): Instance 0b5ac4a1-3c1e-4f2a-9a55-1d2e3f4a5b6c is not currently available') });
    expect(await listViaApi()).toEqual([]);
  });

  it('serves the counters on the optional metrics endpoint', async () => {
    const s = await start({ metrics: true });
    await s.scheduler.fire('nightly');
    const address = s.metricsAddress;
    expect(address?.host).toBe('127.0.0.1');
    const res = await axios.get(`http://127.0.0.1:${address?.port}/metrics`);
    expect(res.data).toContain('k2hdkc_scheduler_runs_total{schedule="nightly"} 1');
    expect(res.data).toContain('k2hdkc_scheduler_backups_created_total{schedule="nightly"} 1');
  });
});
