import { execFile } from 'node:child_process';
import { readFileSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import axios from 'axios';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { K2hr3Provisioner } from '../../src/k2hr3/provision';
import { antpickaxProgram } from '../helpers/antpickax';
import { rawCtlport } from '../helpers/raw-ctlport';
import { DBAAS_TEMPLATE, FAST, nodes } from '../integration/k2hr3/helpers';
import { ControlPlane } from './helpers/control-plane';
import { REPO_ROOT, VOLUME_MOUNT_POINT, vmPath, type Vm } from './helpers/hypervisor';
import { dataFileOf, k2hGet, k2hSet } from './helpers/k2hash-data';
import { TroveClusterSlave } from './helpers/trove-slave';
import { startProcess, stopProcess, tail } from './helpers/processes';
import { until, untilHealthy, type InstanceView } from './helpers/trove-rest';

// Issue 5 acceptance 1-6 through the user's own path: the real `openstack` CLI against Debian's
// trove-api, trove-taskmanager and trove-conductor on Debian's Keystone, the user logging in with
// a password, the bridge installed from datastore/ as an operator would, VMs booted by the
// compute double's nova running the real agent. One control plane for the whole file; the
// scenarios run in order and share it.
// Issue 12: single instances and clusters are created as the CLI and the Dashboard create them:
// the guest configuration has only the operator's k2hr3_api_url, and each node sets K2HR3 up
// itself with the user's real Keystone token (K2HR3 checks it at Keystone) and the shipped
// template. The backup scenario keeps the "operator pre-provisioned K2HR3" variant (an
// extdata-url in a configuration group); its backups go to the user's own Swift account.

const run = promisify(execFile);
const VERSION = '1.0.16';

const plane = new ControlPlane({
  bridge: true,
  guestConf: { k2hdkc: [`k2hlinetool_path = ${antpickaxProgram('k2hlinetool')}`, 'k2hr3_poll_seconds = 1'] },
});
const step = <T>(fn: () => Promise<T>): (() => Promise<T>) => plane.step(fn);
/** Keystone's demo user (the cloud's user) and its project's id. */
const demo = (): typeof plane.demo => plane.demo;
/** The demo project's own Swift account, where its backups and published logs go. */
const account = (): string => plane.swiftAccount(demo().projectId);
const instanceView = (id: string): Promise<InstanceView | null> => plane.rest.instance(demo().token, demo().projectId, id);

/**
 * The operator pre-provisioned variant: what the dashboard did before a launch (and an
 * operator's tooling may still do): the cluster's K2HR3 resource and roles, and the extdata URL
 * handed to the nodes in a configuration group.
 */
async function provisionCluster(tenant: string, cluster: string): Promise<{ roleYrn: string; extdataUrl: string }> {
  const result = await new K2hr3Provisioner({ apiUrl: plane.k2hr3.url, ...FAST }).provision(demo().token, {
    tenant, cluster, template: DBAAS_TEMPLATE, mode: 'server',
  });
  return { roleYrn: result.roleYrn, extdataUrl: plane.k2hr3.extdataUrlFor(result.roleYrn).url };
}

function vmOf(instanceId: string): Vm {
  const vm = plane.hypervisor.vmOf(instanceId);
  if (vm === undefined) throw new Error(`no VM runs instance ${instanceId}`);
  return vm;
}

function iniNodes(vm: Vm): string[] {
  return nodes(readFileSync(vm.iniPath, 'utf8'), 'SVRNODE').map((n) => n.cuk).sort();
}

/** The daemon's pid from its pid file; NaN while the supervisor rewrites it. */
function pidOf(vm: Vm, name: string): number {
  try {
    return Number(readFileSync(path.join(vm.runDir, `${name}.pid`), 'utf8'));
  } catch {
    return Number.NaN;
  }
}

async function configurationCreate(name: string, values: Record<string, unknown>): Promise<string> {
  const out = await plane.cli.json<{ id: string }>(demo(), [
    'database', 'configuration', 'create', name, JSON.stringify(values), '--datastore', 'k2hdkc', '--datastore-version', VERSION,
  ]);
  return out.id;
}

async function instanceCreate(name: string, extra: readonly string[]): Promise<string> {
  const out = await plane.cli.json<{ id: string }>(demo(), [
    'database', 'instance', 'create', name, '--flavor', '10', '--size', '1',
    '--datastore', 'k2hdkc', '--datastore-version', VERSION, ...extra,
  ]);
  return out.id;
}

async function untilGone(id: string): Promise<void> {
  await until(`instance ${id} deleted`, async () => ((await instanceView(id)) === null ? true : undefined), 90_000);
}

function healthy(id: string, timeoutMs?: number): Promise<InstanceView> {
  return untilHealthy(plane.rest, demo().token, demo().projectId, id, timeoutMs);
}

/** The K2HR3 role a self-provisioned node registers in: `<tenant>:role:<cluster>/server`, names lower-cased. */
function serverRole(tenant: string, cluster: string): string {
  return `yrn:yahoo:::${tenant.toLowerCase()}:role:${cluster.toLowerCase()}/server`;
}

beforeAll(() => plane.start(), 240_000);
afterAll(() => plane.finish('e2e (issue 5 acceptance 7: under 10 min)'), 60_000);

describe('0. trove-api behind keystonemiddleware (issue 13 acceptance 1)', () => {
  it('answers a wrong token with 401 and a real fernet token with the project\'s instances', step(async () => {
    const url = `${plane.apiUrl}/v1.0/${demo().projectId}/instances`;
    const wrong = await axios.get(url, { headers: { 'X-Auth-Token': 'gAAAAABnot-a-real-fernet-token' }, validateStatus: () => true });
    expect(wrong.status).toBe(401);
    expect(String(wrong.headers['www-authenticate'])).toContain(plane.keystone.baseUrl);
    const none = await axios.get(url, { validateStatus: () => true });
    expect(none.status).toBe(401);
    const right = await axios.get(url, { headers: { 'X-Auth-Token': demo().token }, validateStatus: () => true });
    expect(right.status).toBe(200);
    expect(right.data).toEqual({ instances: [] });
    // Trove's own authorization: a real token only acts in its own project.
    const elsewhere = await axios.get(`${plane.apiUrl}/v1.0/${plane.keystone.admin.projectId}/instances`, { headers: { 'X-Auth-Token': demo().token }, validateStatus: () => true });
    expect(elsewhere.status).toBe(403);
  }), 60_000);
});

describe('1. registration', () => {
  it('registers k2hdkc from an empty database, twice, and the CLI lists the version and its parameters', step(async () => {
    const before = await plane.cli.json<unknown[]>(plane.keystone.admin, ['datastore', 'list']);
    expect(before).toEqual([]);
    for (let i = 0; i < 2; i += 1) {
      await plane.registerDatastore();
    }
    const versions = await plane.cli.json<Array<{ Name: string }>>(plane.keystone.admin, ['datastore', 'version', 'list', 'k2hdkc']);
    expect(versions.map((v) => v.Name)).toEqual([VERSION]);
    const shown = await plane.cli.json<Record<string, unknown>>(plane.keystone.admin, ['datastore', 'show', 'k2hdkc']);
    expect(String(shown['versions'] ?? JSON.stringify(shown))).toContain(VERSION);
    const params = await plane.cli.json<Array<{ Name: string }>>(demo(), [
      'database', 'configuration', 'parameter', 'list', VERSION, '--datastore', 'k2hdkc',
    ]);
    const rules = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'datastore/validation-rules.json'), 'utf8')) as {
      'configuration-parameters': Array<{ name: string }>;
    })['configuration-parameters'].map((r) => r.name);
    expect(params.map((p) => p.Name).sort()).toEqual([...rules].sort());
  }), 120_000);
});

describe('2-3. a single instance with a configuration group', () => {
  const single = { roleYrn: '' };
  let configId = '';
  let instanceId = '';

  it('configuration create accepts k2hdkc parameters and Trove refuses a value outside its rule', step(async () => {
    // No K2HR3 parameter: the node provisions its own one-node cluster in K2HR3.
    configId = await configurationCreate('single-conf', { 'k2hdkc-maxthread': 8 });
    const shown = await plane.cli.json<Record<string, unknown>>(demo(), ['database', 'configuration', 'show', configId]);
    expect(JSON.stringify(shown['values'])).toContain('k2hdkc-maxthread');
    const refused = await plane.cli.run(demo(), [
      'database', 'configuration', 'create', 'bad-port', JSON.stringify({ 'chmpx-server-port': 32768 }),
      '--datastore', 'k2hdkc', '--datastore-version', VERSION,
    ]);
    // chmpx keeps ports as signed 16-bit numbers: Trove itself refuses 32768 from the rules.
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/chmpx-server-port/);
    expect(refused.stderr).toMatch(/32767/);
    const unknown = await plane.cli.run(demo(), [
      'database', 'configuration', 'create', 'bad-name', JSON.stringify({ 'no-such-parameter': 1 }),
      '--datastore', 'k2hdkc', '--datastore-version', VERSION,
    ]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/no-such-parameter/);
  }), 60_000);

  it('instance create -> HEALTHY; the node registered in K2HR3 and runs the INI K2HR3 served', step(async () => {
    instanceId = await instanceCreate('single', ['--configuration', configId]);
    const view = await healthy(instanceId);
    expect(view.configuration?.id).toBe(configId);
    const vm = vmOf(instanceId);
    // Set up by the node itself: the shipped template is the cluster resource, the node is in its role.
    single.roleYrn = serverRole('demo', instanceId);
    expect(plane.k2hr3.state.resources.get(single.roleYrn.replace(':role:', ':resource:').replace(/\/server$/, ''))?.string)
      .toBe(readFileSync(path.join(REPO_ROOT, 'datastore/k2hdkc-dbaas-template.txt'), 'utf8').split('__TROVE_K2HDKC_TENANT_NAME__').join('demo').split('__TROVE_K2HDKC_CLUSTER_NAME__').join(instanceId));
    expect(plane.k2hr3.state.hostsOf(single.roleYrn).map((h) => [h.host, h.cuk])).toEqual([[vm.server.address, instanceId]]);
    expect(iniNodes(vm)).toEqual([instanceId]);
    const attached = await plane.cli.json<Array<{ ID: string }>>(demo(), ['database', 'configuration', 'instances', configId]);
    expect(attached.map((i) => i.ID)).toEqual([instanceId]);
    // Trove 18 creates the server as its service user, in its service project (nova saw it so).
    const server = plane.compute.state.servers.get(vm.server.id);
    expect(server?.tenant_id).toBe(plane.keystone.trove.projectId);
    expect(server?.metadata['trove_project_id']).toBe(demo().projectId);
  }), 180_000);

  it('instance show reports the volume used/total the agent measured (get_filesystem_stats)', step(async () => {
    const shown = await plane.cli.json<Record<string, unknown>>(demo(), ['database', 'instance', 'show', instanceId]);
    expect(shown['volume']).toBe(1);
    const used = Number(shown['volume_used']);
    // The VM's volume is a 1 GB filesystem on Trove's mount_point; the agent measures it.
    const fs = statfsSync(vmPath(vmOf(instanceId), VOLUME_MOUNT_POINT));
    expect(fs.blocks * fs.bsize).toBe(1024 ** 3);
    const usedGb = ((fs.blocks - fs.bfree) * fs.bsize) / 1024 ** 3;
    expect(Number.isFinite(used)).toBe(true);
    expect(Math.abs(used - usedGb)).toBeLessThan(0.01);
  }), 60_000);

  it('instance restart -> HEALTHY again, with new chmpx and k2hdkc processes', step(async () => {
    const vm = vmOf(instanceId);
    const before = [pidOf(vm, 'chmpx'), pidOf(vm, 'k2hdkc')];
    expect(before.every((p) => p > 0)).toBe(true);
    await plane.cli.ok(demo(), ['database', 'instance', 'restart', instanceId]);
    await until('instance leaves ACTIVE/HEALTHY', async () => {
      const v = await instanceView(instanceId);
      return v?.status === 'REBOOT' || [pidOf(vm, 'chmpx'), pidOf(vm, 'k2hdkc')].some((p, i) => p > 0 && p !== before[i]) ? true : undefined;
    }, 60_000, 200);
    await healthy(instanceId, 90_000);
    expect([pidOf(vm, 'chmpx'), pidOf(vm, 'k2hdkc')]).not.toEqual(before);
  }), 150_000);

  it('configuration set on the attached group applies a dynamic parameter live, without a restart', step(async () => {
    const vm = vmOf(instanceId);
    const dump = (): Promise<string> => rawCtlport(vm.server.address, 8021, 'DUMP');
    expect(await dump()).toMatch(/^\s*suspend automerge\s+=\s+no$/m);
    const chmpx = pidOf(vm, 'chmpx');
    await plane.cli.ok(demo(), ['database', 'configuration', 'set', configId, JSON.stringify({ 'chmpx-suspend-merge': true })]);
    await until('chmpx merge suspended', async () => (/^\s*suspend automerge\s+=\s+yes$/m.test(await dump()) ? true : undefined), 60_000, 300);
    expect(pidOf(vm, 'chmpx')).toBe(chmpx);
    const view = await healthy(instanceId, 30_000);
    expect(view.configuration?.id).toBe(configId);
  }), 120_000);

  // Issue 12 item 5: configuration changes that need a restart, as the user sees them.
  const maxthread = (): string | undefined => /^MAXTHREAD\s*=\s*(\S+)$/m.exec(readFileSync(vmOf(instanceId).iniPath, 'utf8'))?.[1];
  async function untilStatus(status: string): Promise<void> {
    await until(`instance ${status}`, async () => ((await instanceView(instanceId))?.status === status ? true : undefined), 60_000, 300);
  }
  async function restartHealthy(): Promise<void> {
    await plane.cli.ok(demo(), ['database', 'instance', 'restart', instanceId]);
    await until('restart taken', async () => ((await instanceView(instanceId))?.status !== 'RESTART_REQUIRED' ? true : undefined), 60_000, 200);
    await healthy(instanceId, 90_000);
  }

  it('configuration set of a restart-required value -> RESTART_REQUIRED -> restart -> the value in the INI', step(async () => {
    const k2hdkc = pidOf(vmOf(instanceId), 'k2hdkc');
    await plane.cli.ok(demo(), ['database', 'configuration', 'set', configId, JSON.stringify({ 'k2hdkc-maxthread': 12 })]);
    await untilStatus('RESTART_REQUIRED');
    // The agent writes the value into the INI at once; k2hdkc reads [K2HDKC] only when it starts,
    // so it keeps running as it was until the user restarts.
    expect(pidOf(vmOf(instanceId), 'k2hdkc')).toBe(k2hdkc);
    await restartHealthy();
    expect(pidOf(vmOf(instanceId), 'k2hdkc')).not.toBe(k2hdkc);
    expect(maxthread()).toBe('12');
  }), 180_000);

  it('instance delete removes the instance and powers its VM off', step(async () => {
    await plane.cli.ok(demo(), ['database', 'instance', 'delete', instanceId]);
    await untilGone(instanceId);
    expect(plane.liveServers()).not.toContain(vmOf(instanceId).server.id);
    expect(vmOf(instanceId).agent.exitCode()).not.toBeUndefined();
  }), 120_000);

  it('instance delete leaves no K2HR3 registration behind', step(async () => {
    // Checked once the instance is gone: nothing runs on the VM any more that could deregister later.
    expect(plane.k2hr3.state.hostsOf(single.roleYrn)).toEqual([]);
  }));
});

describe('4. backup to the real Swift and restore (operator pre-provisioned K2HR3: extdata-url)', () => {
  let source = '';
  let backupId = '';
  let configId = '';

  it('backup create -> COMPLETED; the object is in the user\'s own Swift account and its ETag is the checksum', step(async () => {
    const k2hr3 = await provisionCluster('demo', 'bk');
    configId = await configurationCreate('bk-conf', { 'extdata-url': k2hr3.extdataUrl });
    source = await instanceCreate('bk-source', ['--configuration', configId]);
    await healthy(source);
    // A client writes into the node's data file (the k2hash tool stand-in).
    await k2hSet(dataFileOf(vmOf(source)), 'e2e-key', 'e2e-value');
    const created = await plane.cli.json<{ id: string }>(demo(), ['database', 'backup', 'create', 'bk-1', '--instance', source]);
    backupId = created.id;
    const backup = await until('backup COMPLETED', async () => {
      const b = await plane.rest.backup(demo().token, demo().projectId, backupId);
      if (b?.['status'] === 'FAILED') throw new Error(`backup FAILED: ${JSON.stringify(b)}`);
      return b?.['status'] === 'COMPLETED' ? b : undefined;
    }, 120_000);
    const shown = await plane.cli.json<Record<string, unknown>>(demo(), ['database', 'backup', 'show', backupId]);
    expect(shown['status']).toBe('COMPLETED');
    const location = String(shown['locationRef']);
    expect(location).toBe(backup['locationRef']);
    expect(location.startsWith(`${account()}/`)).toBe(true);
    const head = await axios.head(location, { headers: { 'X-Auth-Token': demo().token }, validateStatus: () => true });
    expect(head.status).toBe(200);
    // keystoneauth: another project's token is no operator of the demo account, and no token is
    // nobody. (GET: Swift's refusals carry a body, which a HEAD answer must not.)
    const otherToken = await plane.keystone.token(plane.keystone.trove);
    const theirs = await axios.get(location, { headers: { 'X-Auth-Token': otherToken }, validateStatus: () => true, responseType: 'arraybuffer' });
    expect(theirs.status).toBe(403);
    const anonymous = await axios.get(location, { validateStatus: () => true, responseType: 'arraybuffer' });
    expect(anonymous.status).toBe(401);
    // Trove's API does not show the checksum; its database row does.
    const row = await plane.backupRow(backupId);
    expect(row?.checksum).toMatch(/^[0-9a-f]{32}$/);
    expect(String(head.headers['etag']).replace(/"/g, '')).toBe(row?.checksum);
  }), 240_000);

  it('instance create --backup -> HEALTHY with the data restored', step(async () => {
    const restored = await instanceCreate('bk-restored', ['--backup', backupId, '--configuration', configId]);
    await healthy(restored);
    expect(await k2hGet(dataFileOf(vmOf(restored)), 'e2e-key')).toBe('e2e-value');
    await plane.cli.ok(demo(), ['database', 'instance', 'delete', restored]);
    await untilGone(restored);
  }), 240_000);

  // Issue 12 item 3: `openstack database log ...` on the guest, chmpx and k2hdkc logs of the
  // backup's source instance; published logs go to the user's Swift account.
  type LogView = { name: string; type: string; status: string; published: number; pending: number; container: string; prefix: string };
  /** The host-side file behind each log of the source VM. */
  const logFile = (name: string): string => path.join(vmOf(source).logDir, name === 'guest' ? 'k2hdkc-trove-agent.log' : `${name}.log`);
  const logSize = (name: string): number => statSync(logFile(name)).size;
  async function published(prefix: string): Promise<string[]> {
    const res = await axios.get(`${account()}/database_logs`, {
      params: { prefix, format: 'json' }, headers: { 'X-Auth-Token': demo().token }, validateStatus: () => true,
    });
    if (res.status === 404) return [];
    expect(res.status).toBe(200);
    return (res.data as Array<{ name: string }>).map((o) => o.name);
  }

  it('log list shows the guest, chmpx and k2hdkc logs of the node, with what is pending', step(async () => {
    const listed = await plane.cli.json<Array<{ Name: string; Type: string; Status: string; Published: number; Pending: number }>>(
      demo(), ['database', 'log', 'list', source]);
    expect(listed.map((l) => [l.Name, l.Type])).toEqual([['guest', 'SYS'], ['chmpx', 'SYS'], ['k2hdkc', 'SYS']]);
    // The agent's own log is its log file on this VM (a journal on an image's VM): never Unavailable.
    expect(listed.find((l) => l.Name === 'guest')?.Status).toBe('Ready');
    expect(listed.find((l) => l.Name === 'guest')?.Pending).toBeGreaterThan(0);
    expect(readFileSync(logFile('guest'), 'utf8')).toContain('"service":"k2hdkc-trove-agent"');
  }), 60_000);

  for (const name of ['guest', 'chmpx', 'k2hdkc'] as const) {
    it(`log show / set --enable / --publish / --discard on the ${name} log`, step(async () => {
      const shown = await plane.cli.json<LogView>(demo(), ['database', 'log', 'show', source, name]);
      expect(shown).toMatchObject({ name, type: 'SYS', published: 0 });
      // A SYS log is always on: enabling it is accepted (troveclient sends enable=1, Trove passes 1).
      const enabled = await plane.cli.json<LogView>(demo(), ['database', 'log', 'set', source, name, '--enable']);
      expect(enabled).toMatchObject({ name, type: 'SYS' });
      const disabled = await plane.cli.run(demo(), ['database', 'log', 'set', source, name, '--disable']);
      expect(disabled.code).not.toBe(0);
      expect(disabled.stderr).toMatch(/disable/);

      const before = logSize(name);
      const after = await plane.cli.json<LogView>(demo(), ['database', 'log', 'set', source, name, '--publish']);
      expect(after.published).toBeGreaterThanOrEqual(before);
      expect(after.status).toBe(after.published === 0 ? 'Enabled' : after.pending > 0 ? 'Partial' : 'Published');
      const prefix = `${source}/k2hdkc-${name}/`;
      const objects = await published(prefix);
      expect(objects.length > 0).toBe(after.published > 0);
      if (objects.length > 0) {
        const first = await axios.get(`${account()}/database_logs/${objects[0]}`, { headers: { 'X-Auth-Token': demo().token }, responseType: 'text' });
        expect(readFileSync(logFile(name), 'utf8').startsWith(String(first.data))).toBe(true);
      }
      expect((await published(`${source}/k2hdkc-${name}_metafile`)).length).toBe(1);

      const discarded = await plane.cli.json<LogView>(demo(), ['database', 'log', 'set', source, name, '--discard']);
      expect(discarded.published).toBe(0);
      expect(await published(prefix)).toEqual([]);
      expect(await published(`${source}/k2hdkc-${name}_metafile`)).toEqual([]);
    }), 90_000);
  }

  // `log save` and `log tail` read the published objects back from the user's Swift account
  // (troveclient's own Swift connection, logged in with the user's password).
  it('log save writes the published guest log to a file; log tail prints its last lines', step(async () => {
    const publishedLog = await plane.cli.json<LogView>(demo(), ['database', 'log', 'set', source, 'guest', '--publish']);
    expect(publishedLog.published).toBeGreaterThan(0);
    const file = path.join(plane.dir, 'guest-log-save.log');
    const said = await plane.cli.ok(demo(), ['database', 'log', 'save', source, 'guest', '--file', file]);
    expect(said).toContain(file);
    const saved = readFileSync(file, 'utf8');
    expect(saved.length).toBeGreaterThan(0);
    // What was published is the start of the VM's file (the agent goes on logging after it).
    expect(readFileSync(logFile('guest'), 'utf8').startsWith(saved)).toBe(true);

    const tail = await plane.cli.ok(demo(), ['database', 'log', 'tail', source, 'guest', '--lines', '3']);
    const lines = tail.split('\n').filter((line) => line.trim() !== '');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(saved).toContain(line.trim());
    await plane.cli.json<LogView>(demo(), ['database', 'log', 'set', source, 'guest', '--discard']);
  }), 90_000);

  // Issue 4 acceptance 5: bin/k2hdkc-trove-scheduler against this trove-api.
  it('the backup scheduler fires, its backups appear in `backup list`, retention deletes the oldest beyond N', step(async () => {
    // The user's own application credential, made as the user makes one; the scheduler finds
    // trove-api in the catalog of its token.
    const credential = await plane.cli.json<{ id: string; secret: string }>(demo(), ['application', 'credential', 'create', 'e2e-scheduler']);
    const conf = path.join(plane.dir, 'etc/scheduler.conf');
    writeFileSync(conf, [
      '[DEFAULT]', 'debug = true', 'poll_interval = 1',
      '[keystone]', `auth_url = ${plane.keystone.url}`, `application_credential_id = ${credential.id}`,
      `application_credential_secret = ${credential.secret}`, 'interface = public', 'region_name = RegionOne',
      '[schedule:often]', `instance_id = ${source}`, 'cron = * * * * * *', 'keep_last = 1', '',
    ].join('\n'), { mode: 0o600 });
    const scheduler = startProcess('scheduler', process.execPath, [path.join(REPO_ROOT, 'bin/k2hdkc-trove-scheduler'), '--config-file', conf], {
      logPath: path.join(plane.dir, 'log/scheduler.log'),
    });
    type Listed = { ID: string; Name: string; Status: string };
    const list = (): Promise<Listed[]> => plane.cli.json<Listed[]>(demo(), ['database', 'backup', 'list', '--instance-id', source]);
    try {
      const seen = new Set<string>();
      // Two scheduled backups completed, and the first one gone again (retention keep_last = 1).
      const after = await until('a second scheduled backup and the first one deleted', async () => {
        if (scheduler.exitCode() !== undefined) throw new Error(`scheduler exited: ${tail(scheduler.logPath)}`);
        const listed = await list();
        for (const b of listed.filter((b) => b.Name.startsWith('sched-often-'))) seen.add(b.ID);
        const scheduled = listed.filter((b) => b.Name.startsWith('sched-often-'));
        return seen.size >= 2 && scheduled.length === 1 && scheduled[0]?.Status === 'COMPLETED' ? listed : undefined;
      }, 180_000, 2000);
      // The manual backup is never the scheduler's to delete.
      expect(after.map((b) => b.Name)).toContain('bk-1');
    } finally {
      await stopProcess(scheduler);
    }
    expect(readFileSync(scheduler.logPath, 'utf8')).not.toContain(credential.secret);
    await plane.cli.ok(demo(), ['database', 'instance', 'delete', source]);
    await untilGone(source);
  }), 300_000);

  // Issue 12 item 5: the backup's objects go with it (Trove deletes the SLO manifest with its segments).
  it('backup delete removes the backup and its objects from Swift', step(async () => {
    const location = String((await plane.rest.backup(demo().token, demo().projectId, backupId))?.['locationRef']);
    const [container, ...path_] = location.slice(account().length + 1).split('/');
    const object = path_.join('/');
    const listObjects = async (): Promise<string[]> => {
      const res = await axios.get(`${account()}/${container}`, { params: { format: 'json' }, headers: { 'X-Auth-Token': demo().token }, validateStatus: () => true });
      return res.status === 200 ? (res.data as Array<{ name: string }>).map((o) => o.name) : [];
    };
    // The backup object, plus its segments when it is a Static Large Object (a one-segment
    // backup is copied to its final name, as Trove's own runner does).
    const stem = object.split('.')[0] as string;
    const ofBackup = (await listObjects()).filter((n) => n.startsWith(stem));
    expect(ofBackup).toContain(object);
    await plane.cli.ok(demo(), ['database', 'backup', 'delete', backupId]);
    await until('backup gone', async () => ((await plane.rest.backup(demo().token, demo().projectId, backupId)) === null ? true : undefined), 60_000);
    const head = await axios.head(location, { headers: { 'X-Auth-Token': demo().token }, validateStatus: () => true });
    expect(head.status).toBe(404);
    const left = await listObjects();
    expect(left.filter((n) => ofBackup.includes(n))).toEqual([]);
  }), 120_000);
});

describe('5. a three-member cluster: create, grow, shrink, delete', () => {
  const k2hr3 = { roleYrn: '' };
  let clusterId = '';
  const members = (): Promise<string[]> => plane.rest.cluster(demo().token, demo().projectId, clusterId).then((c) => (c?.instances ?? []).map((i) => i.id).sort());
  const registered = (): string[] => plane.k2hr3.state.hostsOf(k2hr3.roleYrn).map((h) => h.cuk ?? '').sort();
  /** Nova servers of every member the cluster ever had. */
  const servers = new Set<string>();

  async function untilClusterIdle(count: number): Promise<string[]> {
    return until(`cluster ${clusterId} idle with ${count} healthy members`, async () => {
      const cluster = await plane.rest.cluster(demo().token, demo().projectId, clusterId);
      if (cluster === null) throw new Error('cluster disappeared');
      if (cluster.task.name !== 'NONE' || cluster.instances.length !== count) return undefined;
      const views = await Promise.all(cluster.instances.map((i) => instanceView(i.id)));
      if (views.some((v) => v?.status === 'ERROR')) throw new Error(`a member is ERROR: ${JSON.stringify(views.map((v) => v?.fault))}`);
      return views.every((v) => v?.status === 'ACTIVE' && v.operating_status === 'HEALTHY') ? cluster.instances.map((i) => i.id).sort() : undefined;
    }, 240_000, 1500);
  }

  async function untilInisList(ids: string[]): Promise<void> {
    for (const id of ids) servers.add(vmOf(id).server.id);
    await until(`every member's INI to list ${ids.length} servers`, async () => (
      ids.every((id) => JSON.stringify(iniNodes(vmOf(id))) === JSON.stringify(ids)) ? true : undefined
    ), 60_000, 300);
  }

  it('cluster create with three members -> all healthy, every INI lists three servers', step(async () => {
    // As a plain user types it: no configuration group, nothing prepared in K2HR3.
    const created = await plane.cli.json<{ id: string }>(demo(), [
      'database', 'cluster', 'create', 'clu', 'k2hdkc', VERSION,
      ...['1', '2', '3'].flatMap(() => ['--instance', 'flavor=10,volume=1']),
    ]);
    clusterId = created.id;
    // The members provision one K2HR3 cluster named by the Trove cluster id.
    k2hr3.roleYrn = serverRole('demo', clusterId);
    const ids = await untilClusterIdle(3);
    await untilInisList(ids);
    expect(registered()).toEqual(ids);
    const shown = await plane.cli.json<Record<string, unknown>>(demo(), ['database', 'cluster', 'show', clusterId]);
    expect(shown['task_name']).toBe('NONE');
  }), 300_000);

  // Issue 15: a client node of this Trove-made cluster from `k2hdkc-dbaas slave userdata`.
  const slave = new TroveClusterSlave(() => ({
    authUrl: plane.keystone.url, user: demo(), k2hr3Url: plane.k2hr3.url,
    address: `${plane.addressPrefix}.240`, dir: plane.dir, env: { ...process.env, NODE_OPTIONS: '' },
    network: plane.network ?? ((): never => { throw new Error('the control plane has no VM network'); })(),
  }));
  const untilSlaveLists = (ids: string[]): Promise<true> => until(`the slave to list ${ids.length} servers`, async () => (
    JSON.stringify(slave.servers()) === JSON.stringify(ids) ? true : undefined
  ), 60_000, 300);
  afterAll(() => slave.stop());

  it('k2hdkc-dbaas slave userdata <Trove cluster id> gives a slave that lists the three servers', step(async () => {
    await slave.start(clusterId);
    // The members named their K2HR3 cluster after the Trove cluster id, so K2HR3 knows it as is.
    expect(slave.cliStderr).toContain(`user-data for a slave of K2HR3 cluster ${clusterId} (K2HR3 cluster)`);
    await untilSlaveLists(await members());
  }), 120_000);

  it('cluster grow -> four members, every INI lists four', step(async () => {
    await plane.cli.ok(demo(), ['database', 'cluster', 'grow', clusterId, '--instance', 'flavor=10,volume=1']);
    const ids = await untilClusterIdle(4);
    await untilInisList(ids);
    expect(registered()).toEqual(ids);
    await untilSlaveLists(ids);
  }), 300_000);

  it('cluster shrink -> three; the removed node is deregistered from K2HR3', step(async () => {
    const before = await members();
    const removed = before[before.length - 1] as string;
    await plane.cli.ok(demo(), ['database', 'cluster', 'shrink', clusterId, removed]);
    const ids = await untilClusterIdle(3);
    expect(ids).not.toContain(removed);
    await untilInisList(ids);
    expect(registered()).toEqual(ids);
    await untilSlaveLists(ids);
    await slave.stop();
  }), 300_000);

  it('cluster delete removes the cluster and every member\'s server', step(async () => {
    await plane.cli.ok(demo(), ['database', 'cluster', 'delete', clusterId]);
    await until('cluster gone', async () => ((await plane.rest.cluster(demo().token, demo().projectId, clusterId)) === null ? true : undefined), 120_000);
    expect(servers.size).toBe(4);
    await until('every member server deleted', async () => (plane.liveServers().some((id) => servers.has(id)) ? undefined : true), 90_000, 300);
  }), 240_000);

  it('cluster delete leaves no K2HR3 registration behind', step(async () => {
    expect(registered()).toEqual([]);
  }));
});

describe('6. Trove itself is untouched', () => {
  it('dpkg --verify python3-trove reports no modified file', step(async () => {
    const { stdout } = await run('dpkg', ['--verify', 'python3-trove']);
    expect(stdout).toBe('');
  }), 60_000);
});
