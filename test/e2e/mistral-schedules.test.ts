import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import axios from 'axios';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackupSchedule } from '../../src/dbaas-cli/backup-schedule-command';
import { K2hr3Provisioner } from '../../src/k2hr3/provision';
import { DBAAS_TEMPLATE, FAST } from '../integration/k2hr3/helpers';
import type { Credentials } from '../keystone/fixture';
import { startMistral, type MistralFixture } from '../mistral/fixture';
import { ControlPlane } from './helpers/control-plane';
import { REPO_ROOT } from './helpers/hypervisor';
import { openrc as openrcVariables } from './helpers/openstack';
import { until, untilHealthy } from './helpers/trove-rest';

// Issue 14: Trove's own scheduled backups. Debian's Mistral 15 with Keystone auth (cron triggers
// run with trusts) on the e2e control plane's real Keystone, our trove.backup_create registered
// with k2hdkc-trove-mistral-register, schedules made by `k2hdkc-dbaas backup schedule`, by
// Mistral's own `openstack cron trigger create`, and read back by troveclient's Python API.

const VERSION = '1.0.16';
const STAND_INS = path.join(REPO_ROOT, 'test/doubles/chmpx');
const REGISTER = path.join(REPO_ROOT, 'bin/k2hdkc-trove-mistral-register');
const run = promisify(execFile);

const plane = new ControlPlane({
  bridge: true,
  guestConf: { k2hdkc: [`k2hlinetool_path = ${path.join(STAND_INS, 'k2hlinetool')}`, 'k2hr3_poll_seconds = 1'] },
});
const step = <T>(fn: () => Promise<T>): (() => Promise<T>) => plane.step(fn);
let mistral: MistralFixture;
let demoToken = '';
let demoProject = '';
let instanceId = '';

function openrc(who: Credentials): Record<string, string | undefined> {
  return { ...process.env, ...openrcVariables(plane.keystone.url, who) };
}

/** `k2hdkc-dbaas backup schedule ...` as the demo user types it. */
async function schedule(args: readonly string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runBackupSchedule(args, { stdout: (t) => { out += t; }, stderr: (t) => { err += t; }, env: openrc(plane.keystone.demo) });
  return { code, out, err };
}

async function scheduleJson<T>(args: readonly string[]): Promise<T> {
  const r = await schedule([...args, '-f', 'json']);
  if (r.code !== 0) throw new Error(`backup schedule ${args.join(' ')} exited ${r.code}: ${r.err}`);
  return JSON.parse(r.out) as T;
}

interface Backup { id: string; name: string; status: string; description: string | null; locationRef: string | null; instance_id: string }

async function backups(): Promise<Backup[]> {
  const res = await axios.get<{ backups: Backup[] }>(`${plane.apiUrl}/v1.0/${demoProject}/backups`, { headers: { 'X-Auth-Token': demoToken }, params: { limit: 1000 } });
  return res.data.backups;
}

/** Runs trove.backup_create once now, as the demo user, with a schedule's input (what a trigger does). */
async function runNow(input: string): Promise<{ state: string; state_info: string | null; output: string | null }> {
  const token = await plane.keystone.token(plane.keystone.demo);
  const headers = { 'X-Auth-Token': token, Accept: 'application/json' };
  const created = await axios.post<{ id: string }>(`${mistral.url}/executions`, { workflow_name: 'trove.backup_create', input }, { headers });
  return until(`execution ${created.data.id} to end`, async () => {
    const e = (await axios.get<{ state: string; state_info: string | null; output: string | null }>(`${mistral.url}/executions/${created.data.id}`, { headers })).data;
    return e.state === 'SUCCESS' || e.state === 'ERROR' ? e : undefined;
  }, 120_000);
}

/** Executions a trigger started: Mistral names the trigger in their description (services/periodic.py). */
async function triggerRuns(trigger: string, input: string): Promise<number> {
  const token = await plane.keystone.token(plane.keystone.demo);
  const all = await axios.get<{ executions: Array<{ input: string; description: string }> }>(`${mistral.url}/executions`, {
    headers: { 'X-Auth-Token': token, Accept: 'application/json' }, params: { workflow_name: 'trove.backup_create', limit: 1000 },
  });
  return all.data.executions.filter((e) => e.input === input && String(e.description).includes(trigger)).length;
}

beforeAll(async () => {
  await plane.start();
  const ks = plane.keystone;
  const service = await ks.addServiceUser('mistral');
  mistral = await startMistral({ keystone: { baseUrl: ks.baseUrl, service } });
  await ks.addService({ type: 'workflowv2', name: 'mistral', url: mistral.url });
  demoToken = plane.demo.token;
  demoProject = plane.demo.projectId;
}, 300_000);

afterAll(async () => {
  if (plane.failed) console.log(`--- mistral (tail)\n${mistral?.logTail() ?? ''}`);
  await mistral?.stop(plane.failed);
  await plane.finish('mistral schedules e2e');
}, 60_000);

describe('the operator registers trove.backup_create', () => {
  it('with the admin openrc, twice: one public workflow, Trove\'s endpoint from the catalog', step(async () => {
    const env = openrc(plane.keystone.admin);
    const first = await run(process.execPath, [REGISTER], { env, timeout: 60_000 });
    expect(first.stdout).toMatch(/trove\.backup_create created in Mistral .*public; Trove API http:\/\/127\.0\.0\.1:\d+\/v1\.0\)/);
    const second = await run(process.execPath, [REGISTER], { env, timeout: 60_000 });
    expect(second.stdout).toMatch(/trove\.backup_create updated/);
    // The demo user sees it (public), and it is the only one.
    const token = await plane.keystone.token(plane.keystone.demo);
    const listed = await axios.get<{ workflows: Array<{ name: string; scope: string }> }>(`${mistral.url}/workflows`, { headers: { 'X-Auth-Token': token, Accept: 'application/json' } });
    expect(listed.data.workflows.filter((w) => w.name === 'trove.backup_create').map((w) => w.scope)).toEqual(['public']);
  }), 120_000);
});

describe('a user schedules backups of their instance', () => {
  let nightly = '';
  let nightlyInput = '';
  let executionsAtDelete = 0;

  it('launches a HEALTHY instance (registration, configuration group, instance create)', step(async () => {
    await plane.registerDatastore();
    const cli = plane.cli;
    const demo = plane.keystone.demo;
    const k2hr3 = await new K2hr3Provisioner({ apiUrl: plane.k2hr3.url, ...FAST }).provision(demoToken, {
      tenant: 'demo', cluster: 'sched', template: DBAAS_TEMPLATE, mode: 'server',
    });
    const configId = (await cli.json<{ id: string }>(demo, [
      'database', 'configuration', 'create', 'sched-conf', JSON.stringify({ 'extdata-url': plane.k2hr3.extdataUrlFor(k2hr3.roleYrn).url }),
      '--datastore', 'k2hdkc', '--datastore-version', VERSION,
    ])).id;
    instanceId = (await cli.json<{ id: string }>(demo, [
      'database', 'instance', 'create', 'sched-one', '--flavor', 'k2hdkc.small', '--size', '1',
      '--datastore', 'k2hdkc', '--datastore-version', VERSION, '--configuration', configId,
    ])).id;
    await untilHealthy(plane.rest, demoToken, demoProject, instanceId);
  }), 300_000);

  it('every minute with --keep 2: a COMPLETED backup named after the schedule, in the user\'s Swift account', step(async () => {
    const row = await scheduleJson<{ id: string; name: string; instance: string; keep: number; pattern: string }>(['create', 'sched-one', '*/1 * * * *', 'nightly', '--keep', '2']);
    expect(row).toMatchObject({ name: 'nightly', instance: instanceId, keep: 2, pattern: '*/1 * * * *' });
    nightly = row.id;
    const made = await until('a scheduled backup COMPLETED', async () => {
      const found = (await backups()).find((b) => /^nightly-\d{8}T\d{6}Z$/.test(b.name));
      if (found?.status === 'FAILED') throw new Error(`scheduled backup FAILED: ${JSON.stringify(found)}`);
      return found?.status === 'COMPLETED' ? found : undefined;
    }, 150_000, 2000);
    expect(made.description).toBe('schedule=nightly keep=2');
    expect(made.instance_id).toBe(instanceId);
    // The user's tools see it.
    const listed = await plane.cli.json<Array<{ ID: string; Name: string; Status: string }>>(plane.keystone.demo, ['database', 'backup', 'list']);
    expect(listed.find((b) => b.ID === made.id)?.Status).toBe('COMPLETED');
    expect(made.locationRef!.startsWith(`${plane.swiftBase}${demoProject}/`)).toBe(true);
    const object = await axios.head(made.locationRef!, { headers: { 'X-Auth-Token': demoToken }, validateStatus: () => true });
    expect(object.status).toBe(200);
  }), 200_000);

  it('list and executions show the schedule and its successful run', step(async () => {
    const list = await scheduleJson<Array<{ id: string; name: string }>>(['list', 'sched-one']);
    expect(list.map((s) => [s.id, s.name])).toEqual([[nightly, 'nightly']]);
    const shown = await scheduleJson<{ description: string }>(['show', nightly]);
    expect(shown.description).toBe('schedule=nightly keep=2');
    // The backup is COMPLETED before its run ends (the workflow then applies the retention), so
    // the run's SUCCESS may come a moment later.
    const run = await until('a SUCCESS run of the schedule', async () => {
      const runs = await scheduleJson<Array<{ state: string; backup_name: string | null }>>(['executions', nightly]);
      return runs.find((r) => r.state === 'SUCCESS' && /^nightly-/.test(r.backup_name ?? ''));
    }, 60_000, 2000);
    expect(run.backup_name).toMatch(/^nightly-\d{8}T\d{6}Z$/);
  }), 90_000);

  it('delete stops further runs; the backups it made stay', step(async () => {
    const token = await plane.keystone.token(plane.keystone.demo);
    const trigger = (await axios.get<{ workflow_input: string }>(`${mistral.url}/cron_triggers/${nightly}`, { headers: { 'X-Auth-Token': token, Accept: 'application/json' } })).data;
    nightlyInput = trigger.workflow_input;
    // Let a run that the trigger already started finish before the backups below.
    await until('no running execution', async () => {
      const runs = await scheduleJson<Array<{ state: string }>>(['executions', nightly]);
      return runs.every((r) => r.state !== 'RUNNING') ? true : undefined;
    }, 120_000, 2000);
    expect((await schedule(['delete', nightly])).code).toBe(0);
    executionsAtDelete = await triggerRuns(nightly, nightlyInput);
    expect(executionsAtDelete).toBeGreaterThan(0);
    expect((await schedule(['show', nightly])).code).toBe(3);
    expect((await backups()).some((b) => b.name.startsWith('nightly-'))).toBe(true);
  }), 150_000);

  it('retention keeps the newest 2 of the schedule\'s backups and never a backup made by hand', step(async () => {
    const manual = (await plane.cli.json<{ id: string }>(plane.keystone.demo, ['database', 'backup', 'create', 'nightly-by-hand', '--instance', instanceId])).id;
    await until('manual backup COMPLETED', async () => ((await plane.rest.backup(demoToken, demoProject, manual))?.['status'] === 'COMPLETED' ? true : undefined), 120_000);
    for (let i = 0; i < 2; i++) {
      const e = await runNow(nightlyInput);
      expect(e.state, e.state_info ?? '').toBe('SUCCESS');
    }
    // Trove deletes in the background (the taskmanager removes the object, then the row).
    const after = await until('retention to settle', async () => {
      const all = await backups();
      return all.filter((b) => b.description === 'schedule=nightly keep=2').length === 2 ? all : undefined;
    }, 60_000, 1000);
    const scheduled = after.filter((b) => b.description === 'schedule=nightly keep=2');
    expect(scheduled.every((b) => b.status === 'COMPLETED')).toBe(true);
    expect(after.find((b) => b.id === manual)?.status).toBe('COMPLETED');
  }), 300_000);

  it('a run for an instance that is gone fails with Trove\'s reason; the schedule runs again', step(async () => {
    const gone = nightlyInput.replace(instanceId, '00000000-0000-4000-8000-000000000000');
    const first = await runNow(gone);
    expect(first.state).toBe('ERROR');
    expect(first.state_info).toMatch(/Trove refused the backup of instance 00000000-0000-4000-8000-000000000000 \(.*(could not be found|cannot be found|not found)/i);
    // A failed run changes nothing for the next one.
    const next = await runNow(nightlyInput);
    expect(next.state, next.state_info ?? '').toBe('SUCCESS');
  }), 200_000);

  it('schedules made by Mistral\'s CLI and by k2hdkc-dbaas list together, also through troveclient\'s Python schedule_list', step(async () => {
    const demo = plane.keystone.demo;
    const ours = await scheduleJson<{ id: string }>(['create', instanceId, '0 3 * * 0', 'weekly']);
    const input = JSON.stringify({ instance: instanceId, name: 'monthly', description: null, incremental: null });
    await plane.cli.ok(demo, ['cron', 'trigger', 'create', 'by-mistral-cli', 'trove.backup_create', input, '--pattern', '0 4 1 * *']);
    const list = await scheduleJson<Array<{ id: string; name: string }>>(['list']);
    expect(list.map((s) => s.name).sort()).toEqual(['monthly', 'weekly']);
    const script = [
      'import json, sys',
      'from keystoneauth1 import session',
      'from keystoneauth1.identity import v3',
      'from mistralclient.api import client as mistral_client',
      'from troveclient.v1 import client as trove_client',
      'a = sys.argv',
      "auth = v3.Password(auth_url=a[1], username=a[2], password=a[3], project_name=a[4], user_domain_id='default', project_domain_id='default')",
      'sess = session.Session(auth=auth)',
      // A session alone makes mistralclient go to localhost:8989; the catalog has the endpoint.
      "mistral = mistral_client.client(session=sess, mistral_url=sess.get_endpoint(service_type='workflowv2', interface='public'))",
      'trove = trove_client.Client(session=sess)',
      'print(json.dumps(sorted([s.name for s in trove.backups.schedule_list(a[5], mistral_client=mistral)])))',
    ].join('\n');
    const { stdout } = await run('/usr/bin/python3', ['-c', script, plane.keystone.url, demo.username, demo.password, demo.project, instanceId], { timeout: 60_000 });
    expect(JSON.parse(stdout)).toEqual(['monthly', 'weekly']);
    expect((await schedule(['delete', ours.id])).code).toBe(0);
    const cli = list.find((s) => s.name === 'monthly')!;
    expect((await schedule(['delete', cli.id])).code).toBe(0);
  }), 120_000);

  it('the deleted schedule never ran again', step(async () => {
    expect(await triggerRuns(nightly, nightlyInput)).toBe(executionsAtDelete);
  }), 60_000);

  it('ran Debian\'s Mistral, Keystone and troveclient unmodified (dpkg --verify prints nothing)', step(async () => {
    const { stdout } = await run('dpkg', ['--verify', 'python3-mistral', 'mistral-common', 'mistral-api', 'mistral-engine', 'mistral-executor', 'python3-mistralclient', 'python3-troveclient', 'keystone', 'python3-keystone'], { timeout: 60_000 });
    expect(stdout).toBe('');
  }), 60_000);
});
