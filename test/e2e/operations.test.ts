import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, statfsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import axios from 'axios';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { K2hr3Provisioner } from '../../src/k2hr3/provision';
import { DBAAS_TEMPLATE, FAST, nodes } from '../integration/k2hr3/helpers';
import { ControlPlane } from './helpers/control-plane';
import { REPO_ROOT, VOLUME_MOUNT_POINT, vmPath, type Vm } from './helpers/hypervisor';
import { dataFileOf, k2hGet, k2hSet } from './helpers/k2hash-data';
import type { CliUser } from './helpers/openstack';
import { TroveRest, until, untilHealthy, type InstanceView } from './helpers/trove-rest';

// Issue 12 items 4, 5 and 6: the operations a user (and the cloud's admin) runs on a K2HDKC
// instance after it is up, through the `openstack` CLI against Debian's Trove 18 on Keystone, the
// compute double whose host power-cycles the VM for a reboot or a resize, and the real agent.
// One instance (one control plane: the suite's time) goes through every operation in order:
// configuration, a refused one, volume resizes, flavor resize, reboot, upgrade; it is deleted at
// the end while its backup runs.
// Volumes as on a real VM: the cinder volume is a real block device in the VM (a loop device over
// the compute double's sparse file, at the device path nova attached it), the agent formats and
// mounts it (manage_volume = true), and it outlives the VM's power cycles, so the data written
// before a reboot or a flavor resize is read after it. `resize volume` goes through Trove 18's own
// flow down to the agent's resize_fs. Trove 18 extends with cinderclient's microversion 3.0,
// where cinder extends only a detached volume, so this cloud resizes offline
// (online_volume_resize = False): stop_db, unmount_volume, detach, extend, attach, resize_fs,
// mount_volume, restart. Item 6: a resize_fs that fails leaves the old filesystem mounted, the
// node working, and a fault that names the operation and the cause.

const run = promisify(execFile);
const K2HR3_TOKEN = 'e2e-k2hr3-token-not-a-secret';
const VERSION = '1.0.16';
const NEXT_VERSION = '1.0.17';
const STAND_INS = path.join(REPO_ROOT, 'test/doubles/chmpx');
/** The K2HR3 template's own MAXTHREAD (datastore/k2hdkc-dbaas-template.txt), what the INI has without overrides. */
const TEMPLATE_MAXTHREAD = /^MAXTHREAD\s*=\s*(\d+)$/m.exec(DBAAS_TEMPLATE)?.[1] ?? 'missing';
const GiB = 1024 ** 3;

const plane = new ControlPlane({
  bridge: true,
  // configuration default / detach render the template in trove-api, which looks in /etc/trove/templates.
  systemTemplates: true,
  // Each cinder volume a loop device in its VM; resized offline (see above).
  blockVolumes: true,
  troveConf: { DEFAULT: ['online_volume_resize = False'] },
  keystone: { [K2HR3_TOKEN]: { user: 'demo', projects: ['demo'] } },
  guestConf: {
    k2hdkc: [`k2hlinetool_path = ${path.join(STAND_INS, 'k2hlinetool')}`, 'k2hr3_poll_seconds = 1', 'backup_progress_interval_seconds = 1'],
    // Small Swift segments: the deleted instance's backup is still uploading when the delete arrives.
    DEFAULT: ['backup_segment_max_size = 1048576'],
  },
});
let rest: TroveRest;
let demo: CliUser;
let admin: CliUser;
let demoToken = '';
let demoProject = '';
const step = <T>(fn: () => Promise<T>): (() => Promise<T>) => plane.step(fn);

beforeAll(async () => {
  await plane.start();
  rest = plane.rest;
  const ks = plane.keystone;
  demo = ks.demo;
  admin = ks.admin;
  demoToken = plane.demo.token;
  demoProject = ks.demo.projectId;
  await plane.registerDatastore();
}, 240_000);

afterAll(async () => {
  await plane.finish('operations e2e');
  // Every loop device of the run goes back to the host, whatever happened above (a device still
  // held by a dying VM namespace goes when the kernel releases it: autoclear).
  const left = await until('loop devices released', async () => ((await loopsOfRun()).length === 0 ? [] : undefined), 15_000).catch(() => loopsOfRun());
  expect(left).toEqual([]);
}, 60_000);

/** Loop devices of this run still attached (`losetup -j` on each volume's backing file). */
async function loopsOfRun(): Promise<string[]> {
  const { stdout } = await run('losetup', ['--list', '--noheadings', '--output', 'NAME,BACK-FILE']);
  return stdout.split('\n').filter((line) => line.includes(plane.dir));
}

/** How the VM sees its volume: the mount at Trove's mount_point (from its own mountinfo) and statfs. */
function volumeInVm(vm: Vm): { source: string; fsType: string; bytes: number } {
  // The agent's mountinfo is the VM's mount table (its own mount namespace).
  const line = readFileSync(`/proc/${String(vm.agent.child.pid)}/mountinfo`, 'utf8')
    .split('\n')
    .find((l) => l.split(' ')[4] === VOLUME_MOUNT_POINT);
  if (line === undefined) throw new Error(`nothing is mounted at ${VOLUME_MOUNT_POINT} in the VM`);
  const [, after] = line.split(' - ');
  const [fsType = '', source = ''] = (after ?? '').split(' ');
  const st = statfsSync(vmPath(vm, VOLUME_MOUNT_POINT));
  return { source, fsType, bytes: st.blocks * st.bsize };
}

const cli = (): typeof plane.cli => plane.cli;

function vmOf(instanceId: string): Vm {
  const vm = plane.hypervisor.vmOf(instanceId);
  if (vm?.disk === undefined) throw new Error(`no VM with a disk runs instance ${instanceId}`);
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
  /**
   * After a volume resize: the task done (ACTIVE), HEALTHY again, with Trove's recorded size. ERROR
   * ends the wait unless `passingError` (after a failed resize_fs Trove marks the service FAILED;
   * the node's next heartbeat says HEALTHY again).
   */
  function untilResized(size: number, check: (v: InstanceView) => boolean = () => true, passingError = false): Promise<InstanceView> {
    return until(`instance ${instanceId} ACTIVE/HEALTHY at ${size} GB`, async () => {
      const v = await view();
      if (v.status === 'ERROR' && !passingError) throw new Error(`instance ${instanceId} is ERROR: ${v.fault?.message ?? '(no fault)'}`);
      return v.status === 'ACTIVE' && v.operating_status === 'HEALTHY' && v.volume?.size === size && check(v) ? v : undefined;
    }, 150_000);
  }
  const show = (): Promise<Record<string, unknown>> => cli().json<Record<string, unknown>>(demo, ['database', 'instance', 'show', instanceId]);
  const volumeId = (): string => {
    const server = [...plane.compute.state.servers.values()].find((s) => s.metadata['trove_instance_id'] === instanceId);
    const id = server?.volumes[0];
    if (id === undefined) throw new Error('the instance has no volume');
    return id;
  };

  it('launch: instance create --size 1 with an operator-provisioned configuration group -> HEALTHY; the agent formats the VM\'s /dev/vdb, mounts it and writes the VM\'s fstab', step(async () => {
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
      'database', 'instance', 'create', 'ops-one', '--flavor', 'k2hdkc.small', '--size', '1',
      '--datastore', 'k2hdkc', '--datastore-version', VERSION, '--configuration', configId,
    ])).id;
    await untilHealthy(rest, demoToken, demoProject, instanceId);
    expectInK2hr3();
    expect(maxthread()).toBe('12');

    const vm = vmOf(instanceId);
    expect(vm.disk!.devicePath).toBe('/dev/vdb');
    const seen = volumeInVm(vm);
    expect(seen).toMatchObject({ source: '/dev/vdb', fsType: 'ext4' });
    expect(seen.bytes).toBeGreaterThan(0.9 * GiB);
    expect(seen.bytes).toBeLessThanOrEqual(GiB);
    // The VM's own /etc/fstab has the volume by UUID; the host's is untouched.
    expect(readFileSync(vmPath(vm, '/etc/fstab'), 'utf8')).toMatch(new RegExp(`^UUID=[0-9a-f-]{36}\\t${VOLUME_MOUNT_POINT}\\text4\\t`, 'm'));
    expect(readFileSync('/etc/fstab', 'utf8')).not.toContain(VOLUME_MOUNT_POINT);
    expect((await show())['volume']).toBe(1);
    await k2hSet(dataFileOf(vm), 'volume-key', 'written-at-1gb');
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

  it('resize volume 2: cinder grows the disk, the agent grows the filesystem offline; show and statfs agree on 2 GB, data kept', step(async () => {
    const vm = vmOf(instanceId);
    await cli().ok(demo, ['database', 'instance', 'resize', 'volume', instanceId, '2']);
    await untilResized(2);

    expect(plane.compute.state.volumes.get(volumeId())?.size).toBe(2);
    expect(Number(readFileSync(`/sys/block/${path.basename(vm.disk!.loop.path)}/size`, 'utf8').trim()) * 512).toBe(2 * GiB);
    const seen = volumeInVm(vm);
    expect(seen).toMatchObject({ source: '/dev/vdb', fsType: 'ext4' });
    expect(seen.bytes).toBeGreaterThan(1.8 * GiB);
    expect(seen.bytes).toBeLessThanOrEqual(2 * GiB);
    // instance show's used/total come from get_filesystem_stats on the grown filesystem.
    expect((await show())['volume']).toBe(2);
    expect(await k2hGet(dataFileOf(vm), 'volume-key')).toBe('written-at-1gb');
    expect(agentLog(vm)).toMatch(/"online":false[^\n]*"msg":"filesystem resized"|"msg":"filesystem resized"[^\n]*"online":false/);
  }), 240_000);

  it('a resize_fs that fails leaves the 2 GB filesystem mounted, the node HEALTHY, and a fault naming resize_fs and the cause', step(async () => {
    const vm = vmOf(instanceId);
    const before = volumeInVm(vm).bytes;
    // The VM's resize2fs breaks (its own mount namespace only): the tool fails as a full or
    // damaged filesystem would make it.
    const broken = path.join(vm.server.vm_dir, 'broken-resize2fs');
    writeFileSync(broken, '#!/bin/sh\necho "resize2fs: No space left on device while trying to resize $1" >&2\nexit 1\n');
    chmodSync(broken, 0o755);
    const pid = String(vm.agent.child.pid);
    await run('nsenter', ['-t', pid, '-m', 'mount', '--bind', broken, '/usr/sbin/resize2fs']);
    try {
      await cli().ok(demo, ['database', 'instance', 'resize', 'volume', instanceId, '3']);
      // Trove recorded 3 GB once cinder had it; the fault tells the user the filesystem did not follow.
      const v = await untilResized(3, (x) => (x.fault?.message ?? '').includes('resize_fs'), true);
      // Trove wraps the fault text over lines (and keeps 255 characters of it).
      const fault = (v.fault?.message ?? '').replace(/\s+/g, ' ');
      expect(fault).toContain('An error occurred communicating with the guest'); // Trove's GuestError
      expect(fault).toContain('resize_fs (offline) failed (old filesystem mounted again, node restarted)');
      expect(fault).toContain('Could not resize /dev/vdb');
      expect(fault).toContain('No space left on device');
    } finally {
      await run('nsenter', ['-t', pid, '-m', 'umount', '/usr/sbin/resize2fs']);
    }
    const seen = volumeInVm(vm);
    expect(seen).toMatchObject({ source: '/dev/vdb', fsType: 'ext4' });
    expect(seen.bytes).toBe(before);
    expect(await k2hGet(dataFileOf(vm), 'volume-key')).toBe('written-at-1gb');
    const shown = await show();
    expect(shown['volume']).toBe(3);
    expect(String(shown['status'])).toBe('ACTIVE');
  }), 240_000);

  it('resize flavor -> the VM is power-cycled onto the new flavor -> HEALTHY, still in K2HR3, its volume and data kept', step(async () => {
    const before = vmOf(instanceId);
    const fsBytes = volumeInVm(before).bytes;
    await k2hSet(dataFileOf(before), 'before-resize', 'flavor-10');
    const agentPid = before.agent.child.pid;
    await cli().ok(demo, ['database', 'instance', 'resize', 'flavor', instanceId, 'k2hdkc.medium']);
    await until('resize started', async () => ((await view()).status === 'RESIZE' ? true : undefined), 60_000, 200);
    await untilSettled('resize done on flavor 11', () => plane.compute.state.servers.get(before.server.id)?.vm_state === 'active');
    const shown = await cli().json<Record<string, unknown>>(demo, ['database', 'instance', 'show', instanceId]);
    expect(String(shown['flavor'])).toBe('11');
    // Nova: resized, confirmed by Trove (VERIFY_RESIZE -> ACTIVE), one power cycle of the VM.
    const server = plane.compute.state.servers.get(before.server.id);
    expect([server?.flavor, server?.vm_state, server?.old_flavor, server?.power_cycles]).toEqual(['11', 'active', null, 1]);
    // The VM booted again: a new agent, new daemons, the node registered again.
    const after = vmOf(instanceId);
    expect(after.agent.child.pid).not.toBe(agentPid);
    expect(before.agent.exitCode()).not.toBeUndefined();
    expect(pidOf(after, 'chmpx')).toBeGreaterThan(0);
    // stop_db took it out of K2HR3; at boot the agent registered it again from its saved state.
    expect(agentLog(after).match(/node started again at agent start/g)?.length).toBe(1);
    expectInK2hr3();
    // The same disk came back as /dev/vdb (detached at power-off, attached at boot) with its filesystem and data.
    expect(after.disk!.devicePath).toBe('/dev/vdb');
    expect(volumeInVm(after)).toEqual({ source: '/dev/vdb', fsType: 'ext4', bytes: fsBytes });
    expect(await k2hGet(dataFileOf(after), 'before-resize')).toBe('flavor-10');
    expect(await k2hGet(dataFileOf(after), 'volume-key')).toBe('written-at-1gb');
  }), 240_000);

  it('reboot by the cloud admin (mgmt action) power-cycles the VM -> HEALTHY on what its disk kept', step(async () => {
    const before = vmOf(instanceId);
    const bootstrap = readFileSync(path.join(before.stateDir, 'k2hr3-bootstrap.json'), 'utf8');
    const [agentPid, chmpx] = [before.agent.child.pid, pidOf(before, 'chmpx')];
    const fsBytes = volumeInVm(before).bytes;
    await k2hSet(dataFileOf(before), 'before-reboot', 'still-here');
    // Trove 18's reboot is an admin (mgmt) action; the demo user is refused.
    const denied = await cli().run(demo, ['database', 'instance', 'reboot', instanceId]);
    expect(denied.code).not.toBe(0);
    await cli().ok(admin, ['database', 'instance', 'reboot', instanceId]);
    await until('reboot started', async () => ((await view()).status === 'REBOOT' ? true : undefined), 60_000, 200);
    await untilSettled('rebooted', () => plane.compute.state.servers.get(before.server.id)?.reboots === 1 && vmOf(instanceId).agent.child.pid !== agentPid);
    const after = vmOf(instanceId);
    expect(before.agent.exitCode()).not.toBeUndefined();
    expect(pidOf(after, 'chmpx')).not.toBe(chmpx);
    // The agent's state survived on the VM's disk: no new K2HR3 bootstrap, the same node.
    expect(readFileSync(path.join(after.stateDir, 'k2hr3-bootstrap.json'), 'utf8')).toBe(bootstrap);
    expect(agentLog(after).match(/node started again at agent start/g)?.length).toBe(2);
    expectInK2hr3();
    // The data on the volume survived the power cycle.
    expect(volumeInVm(after)).toEqual({ source: '/dev/vdb', fsType: 'ext4', bytes: fsBytes });
    expect(await k2hGet(dataFileOf(after), 'before-reboot')).toBe('still-here');
    expect(await k2hGet(dataFileOf(after), 'volume-key')).toBe('written-at-1gb');
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
