import { execFile } from 'node:child_process';
import { readFileSync, statfsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import axios from 'axios';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { K2hr3Provisioner } from '../../src/k2hr3/provision';
import { antpickaxProgram } from '../helpers/antpickax';
import { rawCtlport } from '../helpers/raw-ctlport';
import { DBAAS_TEMPLATE, FAST, nodes } from '../integration/k2hr3/helpers';
import { ADMIN_TOKEN, ControlPlane, SWIFT_PROJECT } from './helpers/control-plane';
import { REPO_ROOT, VOLUME_MOUNT_POINT, vmPath, type Vm } from './helpers/hypervisor';
import { KeystoneV3 } from './helpers/keystone-v3';
import { startProcess, stopProcess, tail } from './helpers/processes';
import { TroveRest, until, untilHealthy } from './helpers/trove-rest';

// Issue 5 acceptance 1-6 through the user's own path: the real `openstack` CLI against Debian's
// trove-api, trove-taskmanager and trove-conductor, the bridge installed from datastore/ as an
// operator would, VMs booted by the fake nova running the real agent. One control plane for the
// whole file (starting it costs ~15 s); the scenarios run in order and share it.

const run = promisify(execFile);
const KEYSTONE_TOKEN = 'e2e-keystone-token-not-a-secret';
const VERSION = '1.0.16';

const plane = new ControlPlane({
  bridge: true,
  keystone: { [KEYSTONE_TOKEN]: { user: 'alice', projects: ['demo', SWIFT_PROJECT] } },
  guestConf: { k2hdkc: [`k2hlinetool_path = ${antpickaxProgram('k2hlinetool')}`, 'k2hr3_poll_seconds = 1'] },
});
let rest: TroveRest;
let failed = false;
const startedAt = Date.now();

/** Records a failure so afterAll prints the logs and keeps the directory. */
function step<T>(fn: () => Promise<T>): () => Promise<T> {
  return async () => {
    try {
      return await fn();
    } catch (error) {
      failed = true;
      throw error;
    }
  };
}

/**
 * What the dashboard did before a launch (and an operator's tooling does now): the cluster's
 * K2HR3 resource and roles, and the extdata URL handed to the nodes in a configuration group.
 */
async function provisionCluster(tenant: string, cluster: string): Promise<{ roleYrn: string; extdataUrl: string }> {
  const result = await new K2hr3Provisioner({ apiUrl: plane.k2hr3.url, ...FAST }).provision(KEYSTONE_TOKEN, {
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

/** The node's k2hash data file (the INI's K2HFILE, on the VM's volume) as the host sees it. */
function dataFileOf(vm: Vm): string {
  const k2hFile = /^K2HFILE\s*=\s*(\S+)$/m.exec(readFileSync(vm.iniPath, 'utf8'))?.[1];
  if (k2hFile === undefined || !k2hFile.startsWith(`${VOLUME_MOUNT_POINT}/`)) throw new Error(`K2HFILE ${String(k2hFile)} is not on the volume`);
  return vmPath(vm, k2hFile);
}

/** The daemon's pid from its pid file; NaN while the supervisor rewrites it. */
function pidOf(vm: Vm, name: string): number {
  try {
    return Number(readFileSync(path.join(vm.runDir, `${name}.pid`), 'utf8'));
  } catch {
    return Number.NaN;
  }
}

async function configurationCreate(token: string, project: string, name: string, values: Record<string, unknown>): Promise<string> {
  const out = await plane.cli.json<{ id: string }>(token, project, [
    'database', 'configuration', 'create', name, JSON.stringify(values), '--datastore', 'k2hdkc', '--datastore-version', VERSION,
  ]);
  return out.id;
}

async function instanceCreate(token: string, project: string, name: string, extra: readonly string[]): Promise<string> {
  const out = await plane.cli.json<{ id: string }>(token, project, [
    'database', 'instance', 'create', name, '--flavor', '10', '--size', '1',
    '--datastore', 'k2hdkc', '--datastore-version', VERSION, ...extra,
  ]);
  return out.id;
}

async function untilGone(token: string, project: string, id: string): Promise<void> {
  await until(`instance ${id} deleted`, async () => ((await rest.instance(token, project, id)) === null ? true : undefined), 90_000);
}

beforeAll(async () => {
  await plane.start();
  rest = new TroveRest(plane.apiUrl);
}, 180_000);

afterAll(async () => {
  if (failed) console.log(plane.report());
  console.log(`e2e wall time ${Math.round((Date.now() - startedAt) / 1000)} s (issue 5 acceptance 7: under 10 min)`);
  await plane.stop(failed);
}, 60_000);

describe('1. registration', () => {
  it('registers k2hdkc from an empty database, twice, and the CLI lists the version and its parameters', step(async () => {
    const before = await plane.cli.json<unknown[]>(ADMIN_TOKEN, 'admin', ['datastore', 'list']);
    expect(before).toEqual([]);
    for (let i = 0; i < 2; i += 1) {
      await plane.bridgeCommand('k2hdkc_trove_bridge.registration', ['--config-file', plane.confPath, '--db-sync']);
    }
    const versions = await plane.cli.json<Array<{ Name: string }>>(ADMIN_TOKEN, 'admin', ['datastore', 'version', 'list', 'k2hdkc']);
    expect(versions.map((v) => v.Name)).toEqual([VERSION]);
    const shown = await plane.cli.json<Record<string, unknown>>(ADMIN_TOKEN, 'admin', ['datastore', 'show', 'k2hdkc']);
    expect(String(shown['versions'] ?? JSON.stringify(shown))).toContain(VERSION);
    const params = await plane.cli.json<Array<{ Name: string }>>('demo', 'demo', [
      'database', 'configuration', 'parameter', 'list', VERSION, '--datastore', 'k2hdkc',
    ]);
    const rules = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'datastore/validation-rules.json'), 'utf8')) as {
      'configuration-parameters': Array<{ name: string }>;
    })['configuration-parameters'].map((r) => r.name);
    expect(params.map((p) => p.Name).sort()).toEqual([...rules].sort());
  }), 120_000);
});

describe('2-3. a single instance with a configuration group', () => {
  let single: { roleYrn: string; extdataUrl: string };
  let configId = '';
  let instanceId = '';

  it('configuration create accepts k2hdkc parameters and Trove refuses a value outside its rule', step(async () => {
    single = await provisionCluster('demo', 'single');
    configId = await configurationCreate('demo', 'demo', 'single-conf', { 'extdata-url': single.extdataUrl, 'k2hdkc-maxthread': 8 });
    const shown = await plane.cli.json<Record<string, unknown>>('demo', 'demo', ['database', 'configuration', 'show', configId]);
    expect(JSON.stringify(shown['values'])).toContain('k2hdkc-maxthread');
    const refused = await plane.cli.run('demo', 'demo', [
      'database', 'configuration', 'create', 'bad-port', JSON.stringify({ 'chmpx-server-port': 40000 }),
      '--datastore', 'k2hdkc', '--datastore-version', VERSION,
    ]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/chmpx-server-port/);
    const unknown = await plane.cli.run('demo', 'demo', [
      'database', 'configuration', 'create', 'bad-name', JSON.stringify({ 'no-such-parameter': 1 }),
      '--datastore', 'k2hdkc', '--datastore-version', VERSION,
    ]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/no-such-parameter/);
  }), 60_000);

  it('instance create -> HEALTHY; the node registered in K2HR3 and runs the INI K2HR3 served', step(async () => {
    instanceId = await instanceCreate('demo', 'demo', 'single', ['--configuration', configId]);
    const view = await untilHealthy(rest, 'demo', 'demo', instanceId);
    expect(view.configuration?.id).toBe(configId);
    const vm = vmOf(instanceId);
    expect(plane.k2hr3.state.hostsOf(single.roleYrn).map((h) => [h.host, h.cuk])).toEqual([[vm.server.address, instanceId]]);
    expect(iniNodes(vm)).toEqual([instanceId]);
    const attached = await plane.cli.json<Array<{ ID: string }>>('demo', 'demo', ['database', 'configuration', 'instances', configId]);
    expect(attached.map((i) => i.ID)).toEqual([instanceId]);
  }), 180_000);

  it('instance show reports the volume used/total the agent measured (get_filesystem_stats)', step(async () => {
    const shown = await plane.cli.json<Record<string, unknown>>('demo', 'demo', ['database', 'instance', 'show', instanceId]);
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
    await plane.cli.ok('demo', 'demo', ['database', 'instance', 'restart', instanceId]);
    await until('instance leaves ACTIVE/HEALTHY', async () => {
      const v = await rest.instance('demo', 'demo', instanceId);
      return v?.status === 'REBOOT' || [pidOf(vm, 'chmpx'), pidOf(vm, 'k2hdkc')].some((p, i) => p > 0 && p !== before[i]) ? true : undefined;
    }, 60_000, 200);
    await untilHealthy(rest, 'demo', 'demo', instanceId, 90_000);
    expect([pidOf(vm, 'chmpx'), pidOf(vm, 'k2hdkc')]).not.toEqual(before);
  }), 150_000);

  it('configuration set on the attached group applies a dynamic parameter live, without a restart', step(async () => {
    const vm = vmOf(instanceId);
    const dump = (): Promise<string> => rawCtlport(vm.server.address, 8021, 'DUMP');
    expect(await dump()).toMatch(/^\s*suspend automerge\s+=\s+no$/m);
    const chmpx = pidOf(vm, 'chmpx');
    await plane.cli.ok('demo', 'demo', ['database', 'configuration', 'set', configId, JSON.stringify({ 'chmpx-suspend-merge': true })]);
    await until('chmpx merge suspended', async () => (/^\s*suspend automerge\s+=\s+yes$/m.test(await dump()) ? true : undefined), 60_000, 300);
    expect(pidOf(vm, 'chmpx')).toBe(chmpx);
    const view = await untilHealthy(rest, 'demo', 'demo', instanceId, 30_000);
    expect(view.configuration?.id).toBe(configId);
  }), 120_000);

  it('instance delete removes the instance and powers its VM off', step(async () => {
    await plane.cli.ok('demo', 'demo', ['database', 'instance', 'delete', instanceId]);
    await untilGone('demo', 'demo', instanceId);
    expect(plane.liveServers()).not.toContain(vmOf(instanceId).server.id);
    expect(vmOf(instanceId).agent.exitCode()).not.toBeUndefined();
  }), 120_000);

  it('instance delete leaves no K2HR3 registration behind', step(async () => {
    // Checked once the instance is gone: nothing runs on the VM any more that could deregister later.
    expect(plane.k2hr3.state.hostsOf(single.roleYrn)).toEqual([]);
  }));
});

describe('4. backup to the real Swift and restore', () => {
  let source = '';
  let backupId = '';
  let configId = '';
  let swiftToken = '';

  it('backup create -> COMPLETED; the object is in Swift and its ETag is the checksum', step(async () => {
    swiftToken = plane.swift.token;
    plane.mapToken(swiftToken, SWIFT_PROJECT);
    const k2hr3 = await provisionCluster(SWIFT_PROJECT, 'bk');
    configId = await configurationCreate(swiftToken, SWIFT_PROJECT, 'bk-conf', { 'extdata-url': k2hr3.extdataUrl });
    source = await instanceCreate(swiftToken, SWIFT_PROJECT, 'bk-source', ['--configuration', configId]);
    await untilHealthy(rest, swiftToken, SWIFT_PROJECT, source);
    // A client writes into the node's data file (the k2hash tool stand-in).
    await k2hSet(dataFileOf(vmOf(source)), 'e2e-key', 'e2e-value');
    const created = await plane.cli.json<{ id: string }>(swiftToken, SWIFT_PROJECT, ['database', 'backup', 'create', 'bk-1', '--instance', source]);
    backupId = created.id;
    const backup = await until('backup COMPLETED', async () => {
      const b = await rest.backup(swiftToken, SWIFT_PROJECT, backupId);
      if (b?.['status'] === 'FAILED') throw new Error(`backup FAILED: ${JSON.stringify(b)}`);
      return b?.['status'] === 'COMPLETED' ? b : undefined;
    }, 120_000);
    const shown = await plane.cli.json<Record<string, unknown>>(swiftToken, SWIFT_PROJECT, ['database', 'backup', 'show', backupId]);
    expect(shown['status']).toBe('COMPLETED');
    const location = String(shown['locationRef']);
    expect(location).toBe(backup['locationRef']);
    expect(location.startsWith(`${plane.swift.url}/`)).toBe(true);
    const head = await axios.head(location, { headers: { 'X-Auth-Token': swiftToken }, validateStatus: () => true });
    expect(head.status).toBe(200);
    // Trove's API does not show the checksum; its database row does.
    const row = await plane.backupRow(backupId);
    expect(row?.checksum).toMatch(/^[0-9a-f]{32}$/);
    expect(String(head.headers['etag']).replace(/"/g, '')).toBe(row?.checksum);
  }), 240_000);

  it('instance create --backup -> HEALTHY with the data restored', step(async () => {
    const restored = await instanceCreate(swiftToken, SWIFT_PROJECT, 'bk-restored', ['--backup', backupId, '--configuration', configId]);
    await untilHealthy(rest, swiftToken, SWIFT_PROJECT, restored);
    expect(await k2hGet(dataFileOf(vmOf(restored)), 'e2e-key')).toBe('e2e-value');
    await plane.cli.ok(swiftToken, SWIFT_PROJECT, ['database', 'instance', 'delete', restored]);
    await untilGone(swiftToken, SWIFT_PROJECT, restored);
  }), 240_000);

  // Issue 4 acceptance 5: bin/k2hdkc-trove-scheduler against this trove-api.
  it('the backup scheduler fires, its backups appear in `backup list`, retention deletes the oldest beyond N', step(async () => {
    const keystone = new KeystoneV3({
      credentialId: 'e2e-scheduler', credentialSecret: 'e2e-scheduler-secret-not-real', token: swiftToken,
      projectId: SWIFT_PROJECT, troveUrl: `${plane.apiUrl}/v1.0/${SWIFT_PROJECT}`,
    });
    const authUrl = await keystone.start();
    const conf = path.join(plane.dir, 'etc/scheduler.conf');
    writeFileSync(conf, [
      '[DEFAULT]', 'debug = true', 'poll_interval = 1',
      '[keystone]', `auth_url = ${authUrl}`, 'application_credential_id = e2e-scheduler',
      'application_credential_secret = e2e-scheduler-secret-not-real', 'interface = public', 'region_name = RegionOne',
      '[schedule:often]', `instance_id = ${source}`, 'cron = * * * * * *', 'keep_last = 1', '',
    ].join('\n'), { mode: 0o600 });
    const scheduler = startProcess('scheduler', process.execPath, [path.join(REPO_ROOT, 'bin/k2hdkc-trove-scheduler'), '--config-file', conf], {
      logPath: path.join(plane.dir, 'log/scheduler.log'),
    });
    type Listed = { ID: string; Name: string; Status: string };
    const list = (): Promise<Listed[]> => plane.cli.json<Listed[]>(swiftToken, SWIFT_PROJECT, ['database', 'backup', 'list', '--instance-id', source]);
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
      expect(keystone.requests).toBeGreaterThanOrEqual(1);
    } finally {
      await stopProcess(scheduler);
      await keystone.stop();
    }
    expect(readFileSync(scheduler.logPath, 'utf8')).not.toContain('e2e-scheduler-secret-not-real');
    await plane.cli.ok(swiftToken, SWIFT_PROJECT, ['database', 'instance', 'delete', source]);
    await untilGone(swiftToken, SWIFT_PROJECT, source);
  }), 300_000);
});

describe('5. a three-member cluster: create, grow, shrink, delete', () => {
  let k2hr3: { roleYrn: string; extdataUrl: string };
  let clusterId = '';
  const members = (): Promise<string[]> => rest.cluster('demo', 'demo', clusterId).then((c) => (c?.instances ?? []).map((i) => i.id).sort());
  const registered = (): string[] => plane.k2hr3.state.hostsOf(k2hr3.roleYrn).map((h) => h.cuk).sort();
  /** Nova servers of every member the cluster ever had. */
  const servers = new Set<string>();

  async function untilClusterIdle(count: number): Promise<string[]> {
    return until(`cluster ${clusterId} idle with ${count} healthy members`, async () => {
      const cluster = await rest.cluster('demo', 'demo', clusterId);
      if (cluster === null) throw new Error('cluster disappeared');
      if (cluster.task.name !== 'NONE' || cluster.instances.length !== count) return undefined;
      const views = await Promise.all(cluster.instances.map((i) => rest.instance('demo', 'demo', i.id)));
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
    k2hr3 = await provisionCluster('demo', 'clu');
    const configId = await configurationCreate('demo', 'demo', 'clu-conf', { 'extdata-url': k2hr3.extdataUrl });
    const created = await plane.cli.json<{ id: string }>('demo', 'demo', [
      'database', 'cluster', 'create', 'clu', 'k2hdkc', VERSION, '--configuration', configId,
      ...['1', '2', '3'].flatMap(() => ['--instance', 'flavor=10,volume=1']),
    ]);
    clusterId = created.id;
    const ids = await untilClusterIdle(3);
    await untilInisList(ids);
    expect(registered()).toEqual(ids);
    const shown = await plane.cli.json<Record<string, unknown>>('demo', 'demo', ['database', 'cluster', 'show', clusterId]);
    expect(shown['task_name']).toBe('NONE');
  }), 300_000);

  it('cluster grow -> four members, every INI lists four', step(async () => {
    await plane.cli.ok('demo', 'demo', ['database', 'cluster', 'grow', clusterId, '--instance', 'flavor=10,volume=1']);
    const ids = await untilClusterIdle(4);
    await untilInisList(ids);
    expect(registered()).toEqual(ids);
  }), 300_000);

  it('cluster shrink -> three; the removed node is deregistered from K2HR3', step(async () => {
    const before = await members();
    const removed = before[before.length - 1] as string;
    await plane.cli.ok('demo', 'demo', ['database', 'cluster', 'shrink', clusterId, removed]);
    const ids = await untilClusterIdle(3);
    expect(ids).not.toContain(removed);
    await untilInisList(ids);
    expect(registered()).toEqual(ids);
  }), 300_000);

  it('cluster delete removes the cluster and every member\'s server', step(async () => {
    await plane.cli.ok('demo', 'demo', ['database', 'cluster', 'delete', clusterId]);
    await until('cluster gone', async () => ((await rest.cluster('demo', 'demo', clusterId)) === null ? true : undefined), 120_000);
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

/** The stand-in data file's JSON form (test/doubles/chmpx/k2hlinetool), written through the tool. */
async function k2hSet(file: string, key: string, value: string): Promise<void> {
  await runWithInput(antpickaxProgram('k2hlinetool'), ['-f', file], `set ${key} ${value}\nquit\n`);
}

async function k2hGet(file: string, key: string): Promise<string | null> {
  const out = await runWithInput(antpickaxProgram('k2hlinetool'), ['-f', file, '-ro'], `print ${key}\nquit\n`);
  const match = new RegExp(`"${key}" => "(.*)"`).exec(out);
  return match?.[1] ?? null;
}

function runWithInput(cmd: string, args: readonly string[], input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, [...args], { timeout: 20_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${cmd} failed: ${error.message} ${stderr}`));
      else resolve(stdout);
    });
    child.stdin?.end(input);
  });
}
