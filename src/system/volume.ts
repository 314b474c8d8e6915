import { promises as fs } from 'node:fs';
import type { Logger } from '../log';
import { CommandError, VolumeError } from '../errors';
import type { CommandRunner } from './command';
import { persistFstabEntry } from './volume-fstab';
import { findMount, readMountinfo, type MountEntry } from './volume-mountinfo';

/** Where the external tools live and how they are called; each is an argument array, never a shell line. */
export interface VolumeCommands {
  readonly blkid: string;
  /** mkfs program and its options; the device path is appended. */
  readonly mkfs: readonly string[];
  readonly mount: string;
  readonly umount: string;
  readonly resize2fs: string;
  readonly e2fsck: string;
  readonly chown: string;
}

export interface VolumeOptions {
  readonly runner: CommandRunner;
  readonly log: Logger;
  /** Filesystem made on a blank device and written in fstab; default ext4. */
  readonly fsType?: string;
  /** Default 'defaults,noatime'. */
  readonly mountOptions?: string;
  /** Default /etc/fstab (tests point it at a temp file). */
  readonly fstabPath?: string;
  /** Default /proc/self/mountinfo. */
  readonly mountinfoPath?: string;
  /** Owner of the mounted filesystem's root, as `chown` takes it (name or number); unset = leave as is. */
  readonly owner?: { readonly user: string; readonly group: string };
  readonly commands?: Partial<VolumeCommands>;
  /** Per command; default 120 s (mkfs and e2fsck of a large volume take a while). */
  readonly timeoutMs?: number;
  /** How sizes are read (tests replace them); default statfs and the block device's sysfs size. */
  readonly sizes?: Partial<VolumeSizes>;
}

/** Sizes in bytes: of the filesystem mounted at a path (statfs), and of a device (or image file). */
export interface VolumeSizes {
  filesystemBytes(mountPoint: string): Promise<number>;
  deviceBytes(device: string): Promise<number>;
}

/**
 * An ext4 filesystem's statfs total leaves out its own metadata (inode tables, journal): a few
 * percent. Below this share of the device after a resize, the filesystem did not grow.
 */
const GROWN_SHARE = 0.9;

const DEFAULT_COMMANDS: VolumeCommands = {
  blkid: 'blkid',
  mkfs: ['mkfs.ext4', '-F', '-q'],
  mount: 'mount',
  umount: 'umount',
  resize2fs: 'resize2fs',
  e2fsck: 'e2fsck',
  chown: 'chown',
};

/** A user or group as chown takes it: a name or a number, never something that looks like an option. */
const OWNER_PART = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/**
 * The data volume Trove attaches (`device_path` at `mount_point`, spec trove-rpc.md §5, §7.4):
 * format when blank, mount, fstab, ownership, unmount, resize. Throws VolumeError.
 */
export class Volume {
  private readonly runner: CommandRunner;
  private readonly log: Logger;
  private readonly fsType: string;
  private readonly mountOptions: string;
  private readonly fstabPath: string;
  private readonly mountinfoPath: string;
  private readonly owner: { readonly user: string; readonly group: string } | undefined;
  private readonly cmd: VolumeCommands;
  private readonly timeoutMs: number;
  private readonly sizes: VolumeSizes;

  constructor(options: VolumeOptions) {
    this.runner = options.runner;
    this.log = options.log;
    this.fsType = options.fsType ?? 'ext4';
    this.mountOptions = options.mountOptions ?? 'defaults,noatime';
    this.fstabPath = options.fstabPath ?? '/etc/fstab';
    this.mountinfoPath = options.mountinfoPath ?? '/proc/self/mountinfo';
    this.owner = options.owner;
    this.cmd = { ...DEFAULT_COMMANDS, ...options.commands };
    this.timeoutMs = options.timeoutMs ?? 120_000;
    this.sizes = { filesystemBytes, deviceBytes, ...options.sizes };
    for (const part of this.owner ? [this.owner.user, this.owner.group] : []) {
      if (!OWNER_PART.test(part)) throw new VolumeError(`Invalid volume owner '${part}'`);
    }
  }

  /** prepare: format `device` if it holds no filesystem, mount it at `mountPoint`, persist in fstab, set ownership. */
  async prepare(device: string, mountPoint: string): Promise<void> {
    await this.formatIfBlank(device);
    await this.mount(device, mountPoint, { persist: true });
  }

  /** Makes a filesystem on `device` only when blkid finds no signature; refuses a different filesystem type. */
  async formatIfBlank(device: string): Promise<boolean> {
    const found = await this.probe(device);
    if (found.TYPE === this.fsType) return false;
    if (found.TYPE !== undefined) {
      throw new VolumeError(
        `${device} already holds a ${found.TYPE} filesystem, not ${this.fsType}; refusing to format it (check device_path)`,
      );
    }
    this.log.info({ device, fsType: this.fsType }, 'formatting blank volume');
    const [mkfs, ...mkfsArgs] = this.cmd.mkfs;
    if (mkfs === undefined) throw new VolumeError('No mkfs command configured');
    await this.exec(`format ${device}`, mkfs, [...mkfsArgs, device]);
    return true;
  }

  /**
   * Mounts `device` at `mountPoint` (creating the directory). Already mounted there: nothing to do.
   * Another device mounted there: VolumeError. `persist` writes the fstab line by UUID.
   */
  async mount(device: string, mountPoint: string, options: { persist?: boolean } = {}): Promise<void> {
    const existing = await this.mountAt(mountPoint);
    if (existing && !(await sameDevice(existing, device))) {
      throw new VolumeError(`${mountPoint} already has ${existing.source} mounted, not ${device}`);
    }
    if (existing) {
      this.log.info({ device, mountPoint }, 'volume already mounted');
    } else {
      await fs.mkdir(mountPoint, { recursive: true, mode: 0o755 }).catch((cause: Error) => {
        throw new VolumeError(`Could not create mount point ${mountPoint}: ${cause.message}`, { cause });
      });
      await this.exec(`mount ${device} at ${mountPoint}`, this.cmd.mount, [
        '-t', this.fsType, '-o', this.mountOptions, device, mountPoint,
      ]);
      this.log.info({ device, mountPoint }, 'volume mounted');
    }
    if (options.persist) {
      const uuid = (await this.probe(device)).UUID;
      if (uuid === undefined) throw new VolumeError(`blkid found no UUID on ${device}; cannot write ${this.fstabPath}`);
      const spec = `UUID=${uuid}`;
      const entry = { spec, mountPoint, fsType: this.fsType, options: this.mountOptions, pass: 2 };
      if (await persistFstabEntry(this.fstabPath, entry)) this.log.info({ spec, mountPoint }, 'fstab updated');
    }
    if (this.owner) {
      await this.exec(`chown ${mountPoint}`, this.cmd.chown, ['--', `${this.owner.user}:${this.owner.group}`, mountPoint]);
    }
  }

  /** Unmounts `mountPoint` when something is mounted there; the fstab line stays (the UUID survives a resize). */
  async unmount(mountPoint: string): Promise<void> {
    if (!(await this.mountAt(mountPoint))) {
      this.log.info({ mountPoint }, 'volume not mounted; nothing to unmount');
      return;
    }
    await this.exec(`unmount ${mountPoint}`, this.cmd.umount, [mountPoint]);
    this.log.info({ mountPoint }, 'volume unmounted');
  }

  /**
   * Grows the filesystem to the device's size. Online: resize2fs while mounted at `mountPoint`,
   * then statfs must show it grown (a kernel can leave it as it was while resize2fs reports
   * success). Offline (Trove unmounts first, spec §7.4): e2fsck -f then resize2fs on the
   * unmounted device; like Trove's own guest, a filesystem found mounted there again (an OS
   * mounting fstab entries on attach) is unmounted first.
   */
  async resize(device: string, mountPoint: string, online: boolean): Promise<void> {
    const mounted = await this.mountAt(mountPoint);
    if (online) {
      if (!mounted || !(await sameDevice(mounted, device))) {
        throw new VolumeError(`Online resize needs ${device} mounted at ${mountPoint}`);
      }
      const before = await this.sizes.filesystemBytes(mountPoint);
      await this.exec(`resize ${device} online`, this.cmd.resize2fs, [device]);
      await this.verifyGrown(device, mountPoint, before);
    } else {
      if (mounted && (await sameDevice(mounted, device))) await this.unmount(mountPoint);
      // -p repairs what is safe without asking; exit 1 (errors corrected) is not a failure, 4+ is.
      await this.exec(`check ${device}`, this.cmd.e2fsck, ['-f', '-p', device], [0, 1]);
      await this.exec(`resize ${device}`, this.cmd.resize2fs, [device]);
    }
    this.log.info({ device, mountPoint, online }, 'filesystem resized');
  }

  /** After an online resize: the mounted filesystem must fill the device, else VolumeError with both sizes. */
  private async verifyGrown(device: string, mountPoint: string, beforeBytes: number): Promise<void> {
    const [after, deviceSize] = await Promise.all([this.sizes.filesystemBytes(mountPoint), this.sizes.deviceBytes(device)]);
    if (after >= deviceSize * GROWN_SHARE) return;
    throw new VolumeError(
      `Online resize of ${device} did not grow the filesystem at ${mountPoint}: resize2fs exited 0, but it is ` +
        `${gib(after)} (was ${gib(beforeBytes)}) on a ${gib(deviceSize)} device. Resize it offline ` +
        '(trove.conf [DEFAULT] online_volume_resize = False)',
    );
  }

  /** blkid's low-level probe (-p: no cache) as KEY=VALUE pairs; empty when the device holds no signature. */
  async probe(device: string): Promise<Record<string, string>> {
    await fs.stat(device).catch((cause: Error) => {
      throw new VolumeError(`Volume device ${device} not found: ${cause.message}`, { cause });
    });
    // blkid exits 2 when it finds nothing: a blank device, not a failure.
    const result = await this.exec(`probe ${device}`, this.cmd.blkid, ['-p', '-o', 'export', device], [0, 2]);
    const fields: Record<string, string> = {};
    if (result.exitCode === 2) return fields;
    for (const line of result.stdout.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) fields[line.slice(0, eq)] = line.slice(eq + 1);
    }
    return fields;
  }

  private async mountAt(mountPoint: string): Promise<MountEntry | undefined> {
    return findMount(await readMountinfo(this.mountinfoPath), mountPoint);
  }

  private async exec(what: string, command: string, args: readonly string[], okExitCodes?: readonly number[]) {
    try {
      return await this.runner.run(command, args, { timeoutMs: this.timeoutMs, ...(okExitCodes ? { okExitCodes } : {}) });
    } catch (cause) {
      const reason = cause instanceof CommandError ? cause.message : String(cause);
      throw new VolumeError(`Could not ${what}: ${reason}`, { cause });
    }
  }
}

function gib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

async function filesystemBytes(mountPoint: string): Promise<number> {
  try {
    const st = await fs.statfs(mountPoint);
    return st.blocks * st.bsize;
  } catch (cause) {
    throw new VolumeError(`Could not statfs ${mountPoint}: ${(cause as Error).message}`, { cause });
  }
}

/** A block device's size from sysfs (512-byte sectors); an image file's own size. */
async function deviceBytes(device: string): Promise<number> {
  try {
    const st = await fs.stat(device);
    if (!st.isBlockDevice()) return st.size;
    const sectors = await fs.readFile(`/sys/dev/block/${major(st.rdev)}:${minor(st.rdev)}/size`, 'utf8');
    return Number(sectors.trim()) * 512;
  } catch (cause) {
    throw new VolumeError(`Could not read the size of ${device}: ${(cause as Error).message}`, { cause });
  }
}

/** The mounted filesystem is `device` when its major:minor is the device's, or its source is the same path. */
async function sameDevice(entry: MountEntry, device: string): Promise<boolean> {
  if (entry.source === device) return true;
  try {
    const st = await fs.stat(device);
    if (!st.isBlockDevice()) return false;
    return entry.devId === `${major(st.rdev)}:${minor(st.rdev)}`;
  } catch {
    return false;
  }
}

// Linux dev_t encoding (glibc gnu_dev_major / gnu_dev_minor).
function major(dev: number): number {
  return Number(((BigInt(dev) >> 8n) & 0xfffn) | ((BigInt(dev) >> 32n) & ~0xfffn));
}
function minor(dev: number): number {
  return Number((BigInt(dev) & 0xffn) | ((BigInt(dev) >> 12n) & ~0xffn));
}
