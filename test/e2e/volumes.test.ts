import { execFile } from 'node:child_process';
import { chmodSync, readFileSync, statfsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { K2hr3Provisioner } from '../../src/k2hr3/provision';
import { DBAAS_TEMPLATE, FAST } from '../integration/k2hr3/helpers';
import { ControlPlane } from './helpers/control-plane';
import { REPO_ROOT, VOLUME_MOUNT_POINT, vmPath, type Vm } from './helpers/hypervisor';
import { dataFileOf, k2hGet, k2hSet } from './helpers/k2hash-data';
import { TroveRest, until, untilHealthy, type InstanceView } from './helpers/trove-rest';

// Issue 12 item 4: volumes as on a real VM. Each cinder volume is a real block device in its VM
// (a loop device over the compute double's sparse file, at the device path nova attached it),
// the agent formats and mounts it (manage_volume = true), and `resize volume` goes through
// Trove 18's own flow down to the agent's resize_fs. Trove 18 extends with cinderclient's
// microversion 3.0, where cinder extends only a detached volume, so this cloud resizes offline
// (online_volume_resize = False): stop_db, unmount_volume, detach, extend, attach, resize_fs,
// mount_volume, restart. Item 6: a resize_fs that fails leaves the old filesystem mounted, the
// node working, and a fault that names the operation and the cause.

const run = promisify(execFile);
const KEYSTONE_TOKEN = 'e2e-k2hr3-token-not-a-secret';
const VERSION = '1.0.16';
const STAND_INS = path.join(REPO_ROOT, 'test/doubles/chmpx');
const GiB = 1024 ** 3;

const plane = new ControlPlane({
  bridge: true,
  identity: 'keystone',
  blockVolumes: true,
  keystone: { [KEYSTONE_TOKEN]: { user: 'demo', projects: ['demo'] } },
  troveConf: { DEFAULT: ['online_volume_resize = False'] },
  guestConf: { k2hdkc: [`k2hlinetool_path = ${path.join(STAND_INS, 'k2hlinetool')}`, 'k2hr3_poll_seconds = 1'] },
});
let rest: TroveRest;
let failed = false;
let token = '';
let project = '';
let instanceId = '';
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

function theVm(): Vm {
  const vm = plane.hypervisor.vmOf(instanceId);
  if (vm?.disk === undefined) throw new Error(`instance ${instanceId} has no VM with a disk`);
  return vm;
}

async function show(): Promise<Record<string, unknown>> {
  return plane.userCli!.json<Record<string, unknown>>(plane.keystone!.demo, ['database', 'instance', 'show', instanceId]);
}

/**
 * After a resize: the task done (ACTIVE), HEALTHY again, with Trove's recorded size. ERROR ends
 * the wait unless `passingError` (after a failed resize_fs Trove marks the service FAILED; the
 * node's next heartbeat says HEALTHY again).
 */
function untilSettled(size: number, check: (view: InstanceView) => boolean = () => true, passingError = false): Promise<InstanceView> {
  return until(`instance ${instanceId} ACTIVE/HEALTHY at ${size} GB`, async () => {
    const view = await rest.instance(token, project, instanceId);
    if (view === null) throw new Error(`instance ${instanceId} disappeared`);
    if (view.status === 'ERROR' && !passingError) throw new Error(`instance ${instanceId} is ERROR: ${view.fault?.message ?? '(no fault)'}`);
    return view.status === 'ACTIVE' && view.operating_status === 'HEALTHY' && view.volume?.size === size && check(view) ? view : undefined;
  }, 150_000);
}

beforeAll(async () => {
  await plane.start();
  rest = new TroveRest(plane.apiUrl);
  const ks = plane.keystone!;
  token = await ks.token(ks.demo);
  project = ks.demo.projectId;
}, 240_000);

afterAll(async () => {
  if (failed) console.log(plane.report());
  console.log(`volumes e2e wall time ${Math.round((Date.now() - startedAt) / 1000)} s`);
  await plane.stop(failed);
  // Every loop device of the run goes back to the host, whatever happened above (a device still
  // held by a dying VM namespace goes when the kernel releases it: autoclear).
  const left = await until('loop devices released', async () => ((await loopsOfRun()).length === 0 ? [] : undefined), 15_000).catch(() => loopsOfRun());
  expect(left).toEqual([]);
}, 60_000);

describe('a K2HDKC instance on a real block device', () => {
  const volumeId = (): string => {
    const server = [...plane.compute!.state.servers.values()].find((s) => s.metadata['trove_instance_id'] === instanceId);
    const id = server?.volumes[0];
    if (id === undefined) throw new Error('the instance has no volume');
    return id;
  };

  it('instance create --size 1: the agent formats the VM\'s /dev/vdb, mounts it at the mount point and writes the VM\'s fstab', step(async () => {
    await plane.bridgeCommand('k2hdkc_trove_bridge.registration', ['--config-file', plane.confPath, '--db-sync']);
    const cli = plane.userCli!;
    const demo = plane.keystone!.demo;
    const k2hr3 = await new K2hr3Provisioner({ apiUrl: plane.k2hr3.url, ...FAST }).provision(KEYSTONE_TOKEN, {
      tenant: 'demo', cluster: 'vol', template: DBAAS_TEMPLATE, mode: 'server',
    });
    const configId = (await cli.json<{ id: string }>(demo, [
      'database', 'configuration', 'create', 'vol-conf', JSON.stringify({ 'extdata-url': plane.k2hr3.extdataUrlFor(k2hr3.roleYrn).url }),
      '--datastore', 'k2hdkc', '--datastore-version', VERSION,
    ])).id;
    instanceId = (await cli.json<{ id: string }>(demo, [
      'database', 'instance', 'create', 'vol-one', '--flavor', 'k2hdkc.small', '--size', '1',
      '--datastore', 'k2hdkc', '--datastore-version', VERSION, '--configuration', configId,
    ])).id;
    await untilHealthy(rest, token, project, instanceId);

    const vm = theVm();
    expect(vm.disk!.devicePath).toBe('/dev/vdb');
    const seen = volumeInVm(vm);
    expect(seen).toMatchObject({ source: '/dev/vdb', fsType: 'ext4' });
    expect(seen.bytes).toBeGreaterThan(0.9 * GiB);
    expect(seen.bytes).toBeLessThanOrEqual(GiB);
    // The VM's own /etc/fstab has the volume by UUID; the host's is untouched.
    expect(readFileSync(vmPath(vm, '/etc/fstab'), 'utf8')).toMatch(new RegExp(`^UUID=[0-9a-f-]{36}\\t${VOLUME_MOUNT_POINT}\\text4\\t`, 'm'));
    expect(readFileSync('/etc/fstab', 'utf8')).not.toContain(VOLUME_MOUNT_POINT);
    const shown = await show();
    expect(shown['volume']).toBe(1);
    await k2hSet(dataFileOf(vm), 'volume-key', 'written-at-1gb');
  }), 300_000);

  it('resize volume 2: cinder grows the disk, the agent grows the filesystem offline; show and statfs agree on 2 GB, data kept', step(async () => {
    const cli = plane.userCli!;
    const demo = plane.keystone!.demo;
    const vm = theVm();
    await cli.ok(demo, ['database', 'instance', 'resize', 'volume', instanceId, '2']);
    await untilSettled(2);

    expect(plane.compute!.state.volumes.get(volumeId())?.size).toBe(2);
    expect(Number(readFileSync(`/sys/block/${path.basename(vm.disk!.loop.path)}/size`, 'utf8').trim()) * 512).toBe(2 * GiB);
    const seen = volumeInVm(vm);
    expect(seen).toMatchObject({ source: '/dev/vdb', fsType: 'ext4' });
    expect(seen.bytes).toBeGreaterThan(1.8 * GiB);
    expect(seen.bytes).toBeLessThanOrEqual(2 * GiB);
    const shown = await show();
    expect(shown['volume']).toBe(2);
    // instance show's used/total come from get_filesystem_stats on the grown filesystem.
    expect(await k2hGet(dataFileOf(vm), 'volume-key')).toBe('written-at-1gb');
    const agentLog = readFileSync(path.join(vm.logDir, 'k2hdkc-trove-agent.log'), 'utf8');
    expect(agentLog).toMatch(/"online":false[^\n]*"msg":"filesystem resized"|"msg":"filesystem resized"[^\n]*"online":false/);
  }), 240_000);

  it('a resize_fs that fails leaves the 2 GB filesystem mounted, the node HEALTHY, and a fault naming resize_fs and the cause', step(async () => {
    const cli = plane.userCli!;
    const demo = plane.keystone!.demo;
    const vm = theVm();
    const before = volumeInVm(vm).bytes;
    // The VM's resize2fs breaks (its own mount namespace only): the tool fails as a full or
    // damaged filesystem would make it.
    const broken = path.join(vm.server.vm_dir, 'broken-resize2fs');
    writeFileSync(broken, '#!/bin/sh\necho "resize2fs: No space left on device while trying to resize $1" >&2\nexit 1\n');
    chmodSync(broken, 0o755);
    const pid = String(vm.agent.child.pid);
    await run('nsenter', ['-t', pid, '-m', 'mount', '--bind', broken, '/usr/sbin/resize2fs']);
    try {
      await cli.ok(demo, ['database', 'instance', 'resize', 'volume', instanceId, '3']);
      // Trove recorded 3 GB once cinder had it; the fault tells the user the filesystem did not follow.
      const view = await untilSettled(3, (v) => (v.fault?.message ?? '').includes('resize_fs'), true);
      // Trove wraps the fault text over lines (and keeps 255 characters of it).
      const fault = (view.fault?.message ?? '').replace(/\s+/g, ' ');
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
});
