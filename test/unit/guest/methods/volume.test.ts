import { spawnSync } from 'node:child_process';
import { mkdtempSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NotSupportedError, VolumeError } from '../../../../src/errors';
import { volumeMethods } from '../../../../src/guest/methods/volume';
import { createCommandRunner } from '../../../../src/system/command';
import { Volume } from '../../../../src/system/volume';
import { captureLogger } from '../../conductor/recording-caster';
import { call } from './method-call';

const MiB = 1024 * 1024;

function method(entries: ReturnType<typeof volumeMethods>, name: string) {
  const entry = entries.find((e) => e.name === name);
  if (entry === undefined) throw new Error(`no ${name}`);
  return entry;
}

describe('volume methods', () => {
  it('resize_fs without `online` (a 1.0 caller) grows an unmounted filesystem offline to the device size', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'k2h-volume-methods-'));
    const image = join(dir, 'data.img');
    writeFileSync(image, '');
    truncateSync(image, 32 * MiB);
    const { log } = captureLogger();
    const volume = new Volume({ runner: createCommandRunner(), log, fstabPath: join(dir, 'fstab') });
    expect(await volume.formatIfBlank(image)).toBe(true);
    truncateSync(image, 48 * MiB);

    const entries = volumeMethods({ volume, devicePath: image, mountPoint: join(dir, 'mnt') });
    expect(await method(entries, 'resize_fs').handler({ device_path: null, mount_point: null }, call('resize_fs'))).toBeNull();
    const header = spawnSync('dumpe2fs', ['-h', image], { encoding: 'utf8' }).stdout;
    const blocks = Number(/Block count:\s+(\d+)/.exec(header)?.[1]);
    const blockSize = Number(/Block size:\s+(\d+)/.exec(header)?.[1]);
    expect(blocks * blockSize).toBe(48 * MiB);
  });

  it('unmount_volume of a mount point with nothing mounted succeeds without running umount', async () => {
    const { log } = captureLogger();
    const entries = volumeMethods({
      volume: new Volume({ runner: { run: async () => { throw new Error('no command expected'); } }, log }),
      devicePath: '/dev/vdb',
      mountPoint: join(tmpdir(), 'k2h-not-mounted'),
    });
    expect(await method(entries, 'unmount_volume').handler({}, call('unmount_volume'))).toBeNull();
  });

  it('a failed offline resize_fs mounts the old filesystem back, restarts the node and fails naming both', async () => {
    const done: string[] = [];
    const volume = {
      resize: async (device: string, _mp: string, online: boolean) => {
        done.push(`resize ${device} online=${String(online)}`);
        throw new VolumeError(`Could not resize ${device}: resize2fs exited 1: No space left on device`);
      },
      mount: async (device: string, mp: string) => void done.push(`mount ${device} ${mp}`),
      unmount: async () => void done.push('unmount'),
    };
    const entries = volumeMethods({ volume, devicePath: '/dev/vdb', mountPoint: '/var/lib/antpickax/k2hdkc', restartNode: async () => void done.push('restart') });
    const error = await Promise.resolve(method(entries, 'resize_fs').handler({ online: false }, call('resize_fs'))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VolumeError);
    expect((error as Error).message).toBe(
      'resize_fs (offline) failed (old filesystem mounted again, node restarted): Could not resize /dev/vdb: resize2fs exited 1: No space left on device',
    );
    expect(done).toEqual(['resize /dev/vdb online=false', 'mount /dev/vdb /var/lib/antpickax/k2hdkc', 'restart']);

    // Online: still mounted, the node never stopped; nothing is remounted or restarted.
    done.length = 0;
    const online = await Promise.resolve(method(entries, 'resize_fs').handler({ online: true }, call('resize_fs'))).catch((e: unknown) => e);
    expect((online as Error).message).toMatch(/^resize_fs \(online\) failed; the filesystem keeps its old size: Could not resize/);
    expect(done).toEqual(['resize /dev/vdb online=true']);
  });

  it('refuses every volume operation with NotSupported when the agent does not manage the volume', async () => {
    const entries = volumeMethods({ volume: null, devicePath: '/dev/vdb', mountPoint: '/var/lib/k2hdkc' });
    for (const name of ['mount_volume', 'unmount_volume', 'resize_fs']) {
      const error = await Promise.resolve(method(entries, name).handler({}, call(name))).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NotSupportedError);
      expect((error as Error).message).toContain('volume management is off');
    }
  });
});
