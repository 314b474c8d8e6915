import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import axios from 'axios';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { K2hr3Provisioner } from '../../src/k2hr3/provision';
import { DBAAS_TEMPLATE, FAST, nodes } from '../integration/k2hr3/helpers';
import { ControlPlane } from './helpers/control-plane';
import { REPO_ROOT, type Vm } from './helpers/hypervisor';
import { dataFileOf, k2hGet, k2hSet } from './helpers/k2hash-data';
import type { CliUser } from './helpers/openstack';
import { TroveRest, until, untilHealthy, type InstanceView } from './helpers/trove-rest';

// Issue 12 items 5 and 6: the operations a user (and the cloud's admin) runs on a K2HDKC instance
// after it is up, through the `openstack` CLI against Debian's Trove 18 on Keystone, the compute
// double whose host power-cycles the VM for a reboot or a resize, and the real agent. One
// instance goes through every operation in order (configuration, a refused one, resize, reboot,
// upgrade) and is deleted at the end while its backup runs.

const run = promisify(execFile);
const K2HR3_TOKEN = 'e2e-k2hr3-token-not-a-secret';
const VERSION = '1.0.16';
const NEXT_VERSION = '1.0.17';
const STAND_INS = path.join(REPO_ROOT, 'test/doubles/chmpx');
/** The K2HR3 template's own MAXTHREAD (datastore/k2hdkc-dbaas-template.txt), what the INI has without overrides. */
const TEMPLATE_MAXTHREAD = /^MAXTHREAD\s*=\s*(\d+)$/m.exec(DBAAS_TEMPLATE)?.[1] ?? 'missing';

const plane = new ControlPlane({
  bridge: true,
  identity: 'keystone',
  // configuration default / detach render the template in trove-api, which looks in /etc/trove/templates.
  systemTemplates: true,
  keystone: { [K2HR3_TOKEN]: { user: 'demo', projects: ['demo'] } },
  guestConf: {
    k2hdkc: [`k2hlinetool_path = ${path.join(STAND_INS, 'k2hlinetool')}`, 'k2hr3_poll_seconds = 1', 'backup_progress_interval_seconds = 1'],
    // Small Swift segments: the deleted instance's backup is still uploading when the delete arrives.
    DEFAULT: ['backup_segment_max_size = 1048576'],
  },
});
let rest: TroveRest;
let failed = false;
let demo: CliUser;
let admin: CliUser;
let demoToken = '';
let demoProject = '';
const startedAt = Date.now();

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

beforeAll(async () => {
  await plane.start();
  rest = new TroveRest(plane.apiUrl);
  const ks = plane.keystone!;
  demo = ks.demo;
  admin = ks.admin;
  demoToken = await ks.token(ks.demo);
  demoProject = ks.demo.projectId;
  await plane.bridgeCommand('k2hdkc_trove_bridge.registration', ['--config-file', plane.confPath, '--db-sync']);
}, 240_000);

afterAll(async () => {
  if (failed) console.log(plane.report());
  console.log(`operations e2e wall time ${Math.round((Date.now() - startedAt) / 1000)} s`);
  await plane.stop(failed);
}, 60_000);

const cli = (): NonNullable<typeof plane.userCli> => plane.userCli!;

function vmOf(instanceId: string): Vm {
  const vm = plane.hypervisor.vmOf(instanceId);
  if (vm === undefined) throw new Error(`no VM runs instance ${instanceId}`);
  return vm;
}

/** The agent's own log on the VM ([k2hdkc] log_file; every boot of the VM appends to it). */
function agentLog(vm: Vm): string {
  return readFileSync(path.join(vm.logDir, 'k2hdkc-trove-agent.log'), 'utf8');
}

/** The daemon's pid from its pid file; NaN while the supervisor rewrites it. */
function pidOf(vm: Vm, name: string): number {
  try {
    return Number(readFileSync(path.join(vm.runDir, `${name}.pid`), 'utf8'));
  } catch {
    return Number.NaN;
  }
}

describe('operations on one K2HDKC instance', () => {
  let instanceId = '';
  let configId = '';
  let roleYrn = '';

  const view = async (): Promise<InstanceView> => {
    const v = await rest.instance(demoToken, demoProject, instanceId);
    if (v === null) throw new Error(`instance ${instanceId} disappeared`);
    return v;
  };
  const ini = (): string => readFileSync(vmOf(instanceId).iniPath, 'utf8');
  const maxthread = (): string | undefined => /^MAXTHREAD\s*=\s*(\S+)$/m.exec(ini())?.[1];
  const registered = (): string[][] => plane.k2hr3.state.hostsOf(roleYrn).map((h) => [h.host, h.cuk ?? '']);
  const expectInK2hr3 = (): void => {
    expect(registered()).toEqual([[vmOf(instanceId).server.address, instanceId]]);
    expect(nodes(ini(), 'SVRNODE').map((n) => n.cuk)).toEqual([instanceId]);
  };
  async function untilStatus(status: string): Promise<void> {
    await until(`instance ${status}`, async () => ((await view()).status === status ? true : undefined), 60_000, 300);
  }
  /** `instance restart` from RESTART_REQUIRED, to HEALTHY with a new k2hdkc. */
  async function restartHealthy(): Promise<void> {
    const k2hdkc = pidOf(vmOf(instanceId), 'k2hdkc');
    await cli().ok(demo, ['database', 'instance', 'restart', instanceId]);
    await until('restart taken', async () => ((await view()).status !== 'RESTART_REQUIRED' ? true : undefined), 60_000, 200);
    await untilHealthy(rest, demoToken, demoProject, instanceId, 90_000);
    expect(pidOf(vmOf(instanceId), 'k2hdkc')).not.toBe(k2hdkc);
  }
  /** Waits until the instance is ACTIVE/HEALTHY with no task and `check` holds; ERROR ends it. */
  async function untilSettled(what: string, check: () => boolean, timeoutMs = 150_000): Promise<void> {
    await until(what, async () => {
      const v = await view();
      if (v.status === 'ERROR') throw new Error(`instance ERROR: ${JSON.stringify(v.fault)}`);
      return v.status === 'ACTIVE' && v.operating_status === 'HEALTHY' && check() ? true : undefined;
    }, timeoutMs, 500);
  }

  it('launch: instance create with an operator-provisioned configuration group -> HEALTHY', step(async () => {
    // The operator pre-provisioned K2HR3 cluster `ops` (extdata-url), plus one restart-required value.
    const k2hr3 = await new K2hr3Provisioner({ apiUrl: plane.k2hr3.url, ...FAST }).provision(K2HR3_TOKEN, {
      tenant: 'demo', cluster: 'ops', template: DBAAS_TEMPLATE, mode: 'server',
    });
    roleYrn = k2hr3.roleYrn;
    configId = (await cli().json<{ id: string }>(demo, [
      'database', 'configuration', 'create', 'ops-conf', JSON.stringify({ 'extdata-url': plane.k2hr3.extdataUrlFor(roleYrn).url, 'k2hdkc-maxthread': 12 }),
      '--datastore', 'k2hdkc', '--datastore-version', VERSION,
    ])).id;
    instanceId = (await cli().json<{ id: string }>(demo, [
      'database', 'instance', 'create', 'ops-one', '--flavor', 'k2hdkc.small', '--size', '2',
      '--datastore', 'k2hdkc', '--datastore-version', VERSION, '--configuration', configId,
    ])).id;
    await untilHealthy(rest, demoToken, demoProject, instanceId);
    expectInK2hr3();
    expect(maxthread()).toBe('12');
  }), 300_000);

  it('configuration default shows the values trove-api renders from the installed config.template', step(async () => {
    const shown = await cli().json<Record<string, unknown>>(demo, ['database', 'configuration', 'default', instanceId]);
    // trove-api renders /etc/trove/templates/k2hdkc/config.template (installed by install.py).
    expect(shown).toMatchObject({ 'chmpx-server-port': '8020', 'chmpx-server-ctlport': '8021', 'chmpx-slave-ctlport': '8031', 'chmpx-suspend-merge': 'false' });
    expect(readFileSync('/etc/trove/templates/k2hdkc/config.template', 'utf8')).toBe(readFileSync(path.join(REPO_ROOT, 'datastore/templates/config.template'), 'utf8'));
  }), 60_000);

  it('configuration detach -> RESTART_REQUIRED -> restart -> HEALTHY with the group\'s value gone from the INI', step(async () => {
    await cli().ok(demo, ['database', 'configuration', 'detach', instanceId]);
    await untilStatus('RESTART_REQUIRED');
    // Kept for the restart: k2hdkc reads [K2HDKC] only when it starts.
    await restartHealthy();
    expect(maxthread()).toBe(TEMPLATE_MAXTHREAD);
    expect((await view()).configuration).toBeUndefined();
    expectInK2hr3();
  }), 180_000);

  it('configuration attach, then instance update --remove-configuration: each RESTART_REQUIRED, restart applies it', step(async () => {
    await cli().ok(demo, ['database', 'configuration', 'attach', instanceId, configId]);
    await untilStatus('RESTART_REQUIRED');
    await restartHealthy();
    expect(maxthread()).toBe('12');
    expect((await view()).configuration?.id).toBe(configId);
    await cli().ok(demo, ['database', 'instance', 'update', instanceId, '--remove-configuration']);
    await untilStatus('RESTART_REQUIRED');
    await restartHealthy();
    expect(maxthread()).toBe(TEMPLATE_MAXTHREAD);
    expect((await view()).configuration).toBeUndefined();
  }), 240_000);

  // Item 6: what K2HDKC cannot honour is refused with a Trove error class naming the reason.
  it('configuration attach of a group naming another K2HDKC cluster is refused; the instance keeps working as it was', step(async () => {
    const other = (await cli().json<{ id: string }>(demo, [
      'database', 'configuration', 'create', 'elsewhere', JSON.stringify({ 'cluster-name': 'elsewhere', 'k2hdkc-maxthread': 30 }),
      '--datastore', 'k2hdkc', '--datastore-version', VERSION,
    ])).id;
    const before = ini();
    const chmpx = pidOf(vmOf(instanceId), 'chmpx');
    const refused = await cli().run(demo, ['database', 'configuration', 'attach', instanceId, other]);
    expect(refused.code).not.toBe(0);
    // trove-api answers the guest's DatastoreOperationNotSupported as HTTP 400 with its message.
    expect(refused.stderr).toMatch(/HTTP 400/);
    expect(refused.stderr).toMatch(/configuration attach\/set with cluster-name "elsewhere": this node is a member of K2HDKC cluster "ops", and a node joins its cluster at instance create only/);
    const v = await view();
    expect([v.status, v.operating_status, v.configuration]).toEqual(['ACTIVE', 'HEALTHY', undefined]);
    expect(ini()).toBe(before);
    expect(pidOf(vmOf(instanceId), 'chmpx')).toBe(chmpx);
    expectInK2hr3();
  }), 120_000);

  it('resize flavor -> the VM is power-cycled onto the new flavor -> HEALTHY, still in K2HR3', step(async () => {
    const before = vmOf(instanceId);
    const agentPid = before.agent.child.pid;
    await cli().ok(demo, ['database', 'instance', 'resize', 'flavor', instanceId, 'k2hdkc.medium']);
    await until('resize started', async () => ((await view()).status === 'RESIZE' ? true : undefined), 60_000, 200);
    await untilSettled('resize done on flavor 11', () => plane.compute!.state.servers.get(before.server.id)?.vm_state === 'active');
    const shown = await cli().json<Record<string, unknown>>(demo, ['database', 'instance', 'show', instanceId]);
    expect(String(shown['flavor'])).toBe('11');
    // Nova: resized, confirmed by Trove (VERIFY_RESIZE -> ACTIVE), one power cycle of the VM.
    const server = plane.compute!.state.servers.get(before.server.id);
    expect([server?.flavor, server?.vm_state, server?.old_flavor, server?.power_cycles]).toEqual(['11', 'active', null, 1]);
    // The VM booted again: a new agent, new daemons, the node registered again.
    const after = vmOf(instanceId);
    expect(after.agent.child.pid).not.toBe(agentPid);
    expect(before.agent.exitCode()).not.toBeUndefined();
    expect(pidOf(after, 'chmpx')).toBeGreaterThan(0);
    // stop_db took it out of K2HR3; at boot the agent registered it again from its saved state.
    expect(agentLog(after).match(/node started again at agent start/g)?.length).toBe(1);
    expectInK2hr3();
  }), 240_000);

  it('reboot by the cloud admin (mgmt action) power-cycles the VM -> HEALTHY on what its disk kept', step(async () => {
    const before = vmOf(instanceId);
    const bootstrap = readFileSync(path.join(before.stateDir, 'k2hr3-bootstrap.json'), 'utf8');
    const [agentPid, chmpx] = [before.agent.child.pid, pidOf(before, 'chmpx')];
    // Trove 18's reboot is an admin (mgmt) action; the demo user is refused.
    const denied = await cli().run(demo, ['database', 'instance', 'reboot', instanceId]);
    expect(denied.code).not.toBe(0);
    await cli().ok(admin, ['database', 'instance', 'reboot', instanceId]);
    await until('reboot started', async () => ((await view()).status === 'REBOOT' ? true : undefined), 60_000, 200);
    await untilSettled('rebooted', () => plane.compute!.state.servers.get(before.server.id)?.reboots === 1 && vmOf(instanceId).agent.child.pid !== agentPid);
    const after = vmOf(instanceId);
    expect(before.agent.exitCode()).not.toBeUndefined();
    expect(pidOf(after, 'chmpx')).not.toBe(chmpx);
    // The agent's state survived on the VM's disk: no new K2HR3 bootstrap, the same node.
    expect(readFileSync(path.join(after.stateDir, 'k2hr3-bootstrap.json'), 'utf8')).toBe(bootstrap);
    expect(agentLog(after).match(/node started again at agent start/g)?.length).toBe(2);
    expectInK2hr3();
  }), 240_000);

  it('instance upgrade to a second registered version -> HEALTHY on it, the data kept', step(async () => {
    // The operator registers 1.0.17 from a manifest that lists it (datastore/README.md).
    const manifest = JSON.parse(readFileSync(path.join(REPO_ROOT, 'datastore/manifest.json'), 'utf8')) as { versions: Array<Record<string, unknown>> };
    manifest.versions.push({ ...manifest.versions[0], name: NEXT_VERSION, version: NEXT_VERSION });
    const manifestPath = path.join(plane.dir, 'etc/manifest-next.json');
    writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
    await plane.bridgeCommand('k2hdkc_trove_bridge.registration', [
      '--config-file', plane.confPath, '--manifest', manifestPath, '--rules', path.join(REPO_ROOT, 'datastore/validation-rules.json'), '--version', NEXT_VERSION,
    ]);
    const versions = await cli().json<Array<{ Name: string }>>(demo, ['datastore', 'version', 'list', 'k2hdkc']);
    expect(versions.map((v) => v.Name).sort()).toEqual([VERSION, NEXT_VERSION]);
    await k2hSet(dataFileOf(vmOf(instanceId)), 'kept-key', 'kept-value');
    const k2hdkc = pidOf(vmOf(instanceId), 'k2hdkc');
    await cli().ok(demo, ['database', 'instance', 'upgrade', instanceId, NEXT_VERSION]);
    await untilSettled('upgraded: k2hdkc restarted', () => {
      const pid = pidOf(vmOf(instanceId), 'k2hdkc');
      return pid > 0 && pid !== k2hdkc;
    });
    const shown = await cli().json<Record<string, unknown>>(demo, ['database', 'instance', 'show', instanceId]);
    expect(shown['datastore_version']).toBe(NEXT_VERSION);
    expect(await k2hGet(dataFileOf(vmOf(instanceId)), 'kept-key')).toBe('kept-value');
    expectInK2hr3();
  }), 240_000);

  it('instance delete while its backup uploads: the agent aborts it and no segment is left in Swift', step(async () => {
    const vm = vmOf(instanceId);
    // ~160 MB of incompressible values: many 1 MiB segments, so the upload is still running
    // when the delete reaches the node (the stand-in's data file is JSON, written directly).
    const dataFile = dataFileOf(vm);
    const data = JSON.parse(readFileSync(dataFile, 'utf8')) as { format: string; elements: Record<string, string> };
    for (let i = 0; i < 120; i += 1) data.elements[`bulk-${i}`] = randomBytes(1024 * 1024).toString('base64');
    writeFileSync(dataFile, JSON.stringify(data));
    const container = `${plane.swiftBase}${demoProject}/database_backups`;
    const objects = async (prefix: string): Promise<string[]> => {
      const res = await axios.get(container, { params: { prefix, format: 'json' }, headers: { 'X-Auth-Token': demoToken }, validateStatus: () => true });
      if (res.status === 404) return [];
      expect(res.status).toBe(200);
      return (res.data as Array<{ name: string }>).map((o) => o.name);
    };
    const backupId = (await cli().json<{ id: string }>(demo, ['database', 'backup', 'create', 'doomed', '--instance', instanceId])).id;
    const uploaded = await until('the backup\'s first segments in Swift', async () => {
      const b = await rest.backup(demoToken, demoProject, backupId);
      if (b?.['status'] === 'COMPLETED' || b?.['status'] === 'FAILED') throw new Error(`backup ended before the delete: ${JSON.stringify(b)}`);
      const names = await objects(`${backupId}_`);
      return names.length >= 2 ? names : undefined;
    }, 120_000, 200);
    // The request `openstack database instance delete` makes, sent at once: the CLI's own
    // Keystone login takes longer than the rest of this upload.
    const deleted = await axios.delete(`${plane.apiUrl}/v1.0/${demoProject}/instances/${instanceId}`, { headers: { 'X-Auth-Token': demoToken }, validateStatus: () => true });
    expect(deleted.status).toBe(202);
    await until(`instance ${instanceId} deleted`, async () => ((await rest.instance(demoToken, demoProject, instanceId)) === null ? true : undefined), 120_000);
    expect(plane.liveServers()).not.toContain(vm.server.id);
    // Trove's stop_db reached the node first: the backup was aborted, its segments removed, FAILED reported.
    expect(uploaded.length).toBeGreaterThanOrEqual(2);
    expect(await objects(backupId)).toEqual([]);
    expect((await rest.backup(demoToken, demoProject, backupId))?.['status']).toBe('FAILED');
    expect(agentLog(vm)).toContain('stop_db arrived during a backup: backup aborted');
    expect(plane.k2hr3.state.hostsOf(roleYrn)).toEqual([]);
  }), 300_000);
});

describe('Trove itself is untouched', () => {
  it('dpkg --verify python3-trove reports no modified file (the template is a new file)', step(async () => {
    const { stdout } = await run('dpkg', ['--verify', 'python3-trove']);
    expect(stdout).toBe('');
  }), 60_000);
});
