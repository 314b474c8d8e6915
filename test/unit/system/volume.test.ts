import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statfsSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VolumeError } from '../../../src/errors';
import { createLogger } from '../../../src/log';
import { createCommandRunner } from '../../../src/system/command';
import { Volume } from '../../../src/system/volume';
import { readMountinfo, findMount } from '../../../src/system/volume-mountinfo';

// Real tools on real (loop) devices: the agent runs as root on the VM, and so do these tests.
const MiB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'k2h-volume-'));
const fstab = join(dir, 'fstab');
const loops: string[] = [];
const mounts: string[] = [];

function run(cmd: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}`.trim() };
}

/** A sparse image attached to a free loop device, or undefined when the sandbox has no loop support. */
function loopDevice(name: string, size: number): string | undefined {
  const image = join(dir, name);
  writeFileSync(image, '');
  truncateSync(image, size);
  const r = run('losetup', ['--find', '--show', image]);
  if (r.status !== 0) return undefined;
  loops.push(r.out);
  return r.out;
}

function grow(device: string, image: string, size: number): void {
  truncateSync(join(dir, image), size);
  expect(run('losetup', ['--set-capacity', device]).status).toBe(0);
}

function volume(lines: string[] = []): Volume {
  const log = createLogger({ level: 'debug', destination: { write: (l: string) => void lines.push(l) } });
  return new Volume({ runner: createCommandRunner(), log, fstabPath: fstab, owner: { user: 'nobody', group: 'nogroup' } });
}

// CAP_SYS_RESOURCE (bit 24) is what the kernel wants for ext4's online-resize ioctl.
const capEff = /CapEff:\s*([0-9a-f]+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
const canResizeOnline = (BigInt(`0x${capEff}`) & (1n << 24n)) !== 0n;

let device: string | undefined;
beforeAll(() => {
  device = loopDevice('data.img', 64 * MiB);
  writeFileSync(fstab, '# test fstab\n');
});
afterAll(() => {
  for (const m of mounts.reverse()) run('umount', [m]);
  for (const l of loops) run('losetup', ['--detach', l]);
});

describe('Volume on plain image files (no loop device needed)', () => {
  it('formats a blank file once and resizes it offline', async () => {
    const image = join(dir, 'plain.img');
    writeFileSync(image, '');
    truncateSync(image, 32 * MiB);
    const v = volume();
    expect(await v.formatIfBlank(image)).toBe(true);
    expect(await v.probe(image)).toMatchObject({ TYPE: 'ext4' });
    expect(await v.formatIfBlank(image)).toBe(false);
    truncateSync(image, 48 * MiB);
    await v.resize(image, join(dir, 'not-mounted'), false);
    const blocks = /Block count:\s+(\d+)/.exec(run('dumpe2fs', ['-h', image]).out)?.[1];
    const blockSize = /Block size:\s+(\d+)/.exec(run('dumpe2fs', ['-h', image]).out)?.[1];
    expect(Number(blocks) * Number(blockSize)).toBe(48 * MiB);
  });

  it('refuses to format a device that holds another filesystem', async () => {
    const image = join(dir, 'ext2.img');
    writeFileSync(image, '');
    truncateSync(image, 16 * MiB);
    expect(run('mkfs.ext2', ['-F', '-q', image]).status).toBe(0);
    await expect(volume().formatIfBlank(image)).rejects.toThrow(/already holds a ext2 filesystem, not ext4; refusing/);
    expect(await volume().probe(image)).toMatchObject({ TYPE: 'ext2' });
  });

  it('reports a missing device as VolumeError', async () => {
    await expect(volume().prepare(join(dir, 'no-such-device'), join(dir, 'm0'))).rejects.toThrow(VolumeError);
    await expect(volume().prepare(join(dir, 'no-such-device'), join(dir, 'm0'))).rejects.toThrow(/not found/);
  });
});

describe('Volume online resize checks the result (statfs)', () => {
  const mountPoint = join(dir, 'fake-mnt');
  const fakeDevice = join(dir, 'fake-device');
  const mountinfo = join(dir, 'fake-mountinfo');
  const GiB = 1024 ** 3;

  function checked(fsBytes: number[], deviceBytes: number): Volume {
    writeFileSync(mountinfo, `36 25 7:9 / ${mountPoint} rw,relatime - ext4 ${fakeDevice} rw\n`);
    const log = createLogger({ level: 'silent' });
    // resize2fs "succeeds" (exit 0): the kernel's answer is what statfs shows afterwards.
    return new Volume({
      runner: createCommandRunner(), log, fstabPath: fstab, mountinfoPath: mountinfo, commands: { resize2fs: 'true' },
      sizes: { filesystemBytes: async () => fsBytes.shift() ?? 0, deviceBytes: async () => deviceBytes },
    });
  }

  it('fails naming both sizes when resize2fs exits 0 but the filesystem kept its size', async () => {
    const error = await checked([0.95 * GiB, 0.95 * GiB], 2 * GiB).resize(fakeDevice, mountPoint, true).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VolumeError);
    expect(String((error as Error).message)).toBe(
      `Online resize of ${fakeDevice} did not grow the filesystem at ${mountPoint}: resize2fs exited 0, but it is 0.95 GiB ` +
        '(was 0.95 GiB) on a 2.00 GiB device. Resize it offline (trove.conf [DEFAULT] online_volume_resize = False)',
    );
  });

  it('accepts a filesystem that now fills the device (less its own metadata)', async () => {
    await expect(checked([0.95 * GiB, 1.93 * GiB], 2 * GiB).resize(fakeDevice, mountPoint, true)).resolves.toBeUndefined();
  });
});

describe('Volume on a loop device', () => {
  const mountPoint = join(dir, 'mnt', 'k2hdkc');

  it('prepare formats the blank device, mounts it, writes fstab by UUID and sets the owner', async (ctx) => {
    if (!device) return ctx.skip();
    const lines: string[] = [];
    await volume(lines).prepare(device, mountPoint);
    mounts.push(mountPoint);
    const uuid = (await volume().probe(device)).UUID;
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(findMount(await readMountinfo(), mountPoint)).toMatchObject({ fsType: 'ext4', source: device });
    expect(readFileSync(fstab, 'utf8')).toBe(`# test fstab\nUUID=${uuid}\t${mountPoint}\text4\tdefaults,noatime\t0\t2\n`);
    expect(statSync(mountPoint)).toMatchObject({ uid: 65534, gid: 65534 });
    expect(lines.some((l) => l.includes('formatting blank volume'))).toBe(true);
  });

  it('prepare again changes nothing: no reformat, data kept, fstab not rewritten', async (ctx) => {
    if (!device) return ctx.skip();
    writeFileSync(join(mountPoint, 'keep.txt'), 'data');
    const inode = statSync(fstab).ino;
    const lines: string[] = [];
    await volume(lines).prepare(device, mountPoint);
    expect(readFileSync(join(mountPoint, 'keep.txt'), 'utf8')).toBe('data');
    expect(statSync(fstab).ino).toBe(inode);
    expect(lines.some((l) => l.includes('formatting'))).toBe(false);
    expect(lines.some((l) => l.includes('volume already mounted'))).toBe(true);
  });

  it('refuses to mount over a different device', async (ctx) => {
    if (!device) return ctx.skip();
    const other = loopDevice('other.img', 16 * MiB);
    if (!other) return ctx.skip();
    await volume().formatIfBlank(other);
    await expect(volume().mount(other, mountPoint)).rejects.toThrow(/already has .* mounted, not/);
  });

  it('online resize grows the mounted filesystem (or says why the kernel refused)', async (ctx) => {
    if (!device) return ctx.skip();
    const before = statfsSync(mountPoint).blocks;
    grow(device, 'data.img', 96 * MiB);
    if (canResizeOnline) {
      await volume().resize(device, mountPoint, true);
      expect(statfsSync(mountPoint).blocks).toBeGreaterThan(before);
    } else {
      // This sandbox drops CAP_SYS_RESOURCE: resize2fs gets EPERM from the kernel.
      await expect(volume().resize(device, mountPoint, true)).rejects.toThrow(/Could not resize .*Permission denied/);
    }
    // Offline while mounted (an OS mounted the fstab entry on attach): unmounted first, as Trove's guest does.
    await volume().resize(device, mountPoint, false);
    expect(findMount(await readMountinfo(), mountPoint)).toBeUndefined();
    await volume().mount(device, mountPoint);
  });

  it('unmounts, resizes offline (e2fsck -f, resize2fs), mounts again with the data intact', async (ctx) => {
    if (!device) return ctx.skip();
    const v = volume();
    await v.unmount(mountPoint);
    expect(findMount(await readMountinfo(), mountPoint)).toBeUndefined();
    await v.unmount(mountPoint); // nothing mounted: no-op
    await expect(v.resize(device, mountPoint, true)).rejects.toThrow(/Online resize needs/);
    grow(device, 'data.img', 128 * MiB);
    await v.resize(device, mountPoint, false);
    await v.mount(device, mountPoint);
    const st = statfsSync(mountPoint);
    expect(st.blocks * st.bsize).toBeGreaterThan(96 * MiB);
    expect(existsSync(join(mountPoint, 'keep.txt'))).toBe(true);
  });
});
