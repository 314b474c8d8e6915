import { NotSupportedError, VolumeError } from '../../errors';
import type { CallContext, MethodEntry } from '../../rpc/types';
import type { Volume } from '../../system/volume';
import { absolutePath } from './bounds';
import { entry as tableEntry } from './entry';

/** What the volume methods need: the Volume (null when [k2hdkc] manage_volume is off) and the configured paths. */
export interface VolumeMethodsDeps {
  readonly volume: Pick<Volume, 'mount' | 'unmount' | 'resize'> | null;
  /** Used when Trove sends None ([k2hdkc] device_path / mount_point). */
  readonly devicePath: string;
  readonly mountPoint: string;
  /**
   * Brings the stopped node up again (restart, heartbeat). Trove 18's offline resize has stopped
   * the node and unmounted the volume before resize_fs, and after a failed resize_fs it only
   * marks the instance FAILED ("recovery is futile"); the agent mounts the old filesystem back
   * and calls this, so the instance keeps working at its old size. Absent: no node to restart.
   */
  readonly restartNode?: (call: CallContext) => Promise<void>;
}

/** `mount_volume` / `unmount_volume` (call, 1.0, low timeout): Trove may send None for either. */
export const volumePathsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { device_path: absolutePath, mount_point: absolutePath },
} as const;

/** `resize_fs` (call; 1.1 adds `online`). */
export const resizeFsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { device_path: absolutePath, mount_point: absolutePath, online: { type: 'boolean', nullable: true } },
} as const;

export interface VolumePathsArgs {
  device_path?: string | null;
  mount_point?: string | null;
}

export interface ResizeFsArgs extends VolumePathsArgs {
  online?: boolean | null;
}

/**
 * mount_volume, unmount_volume and resize_fs (Trove's volume resize flows, spec trove-rpc.md
 * §7.4). Without volume management the agent does not own the disk, so it refuses with
 * DatastoreOperationNotSupported instead of pretending: Trove then stops the resize.
 */
export function volumeMethods(deps: VolumeMethodsDeps): MethodEntry[] {
  const volume = (operation: string) => {
    if (deps.volume === null) throw new NotSupportedError(`${operation} (volume management is off on this guest)`);
    return deps.volume;
  };
  const paths = (args: VolumePathsArgs) => ({ device: args.device_path ?? deps.devicePath, mountPoint: args.mount_point ?? deps.mountPoint });
  // Each returns None (null) on the wire.
  const entry = <A>(name: string, schema: Readonly<Record<string, unknown>>, run: (args: A, call: CallContext) => Promise<void>): MethodEntry =>
    tableEntry<A>(name, schema, async (args, call) => {
      await run(args, call);
      return null;
    });
  return [
    // Trove's own guest mounts without touching fstab here; prepare wrote the UUID line already.
    entry<VolumePathsArgs>('mount_volume', volumePathsSchema, async (args) => {
      const { device, mountPoint } = paths(args);
      await volume('mount_volume').mount(device, mountPoint);
    }),
    entry<VolumePathsArgs>('unmount_volume', volumePathsSchema, async (args) => {
      await volume('unmount_volume').unmount(paths(args).mountPoint);
    }),
    entry<ResizeFsArgs>('resize_fs', resizeFsSchema, async (args, call) => {
      const { device, mountPoint } = paths(args);
      // 1.0 sends no `online`; Trove's default there is an offline resize.
      const online = args.online === true;
      const v = volume('resize_fs');
      try {
        await v.resize(device, mountPoint, online);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        // Online, the filesystem stayed mounted and the node running: nothing to bring back.
        if (online) throw new VolumeError(`resize_fs (online) failed; the filesystem keeps its old size: ${reason}`, { cause: error });
        // Trove keeps 255 characters of a fault: what state the node is in goes before the cause.
        throw new VolumeError(`resize_fs (offline) failed (${await recoverAfterOfflineFailure(deps, device, mountPoint, call)}): ${reason}`, { cause: error });
      }
    }),
  ];
}

/** After a failed offline resize_fs: the old filesystem mounted again and the node restarted; says how that went, briefly, for the fault. */
async function recoverAfterOfflineFailure(deps: VolumeMethodsDeps, device: string, mountPoint: string, call: CallContext): Promise<string> {
  const why = (error: unknown): string => (error instanceof Error ? error.message : String(error));
  try {
    await deps.volume?.mount(device, mountPoint);
  } catch (error) {
    return `could not mount the old filesystem again: ${why(error)}`;
  }
  if (deps.restartNode === undefined) return 'old filesystem mounted again';
  try {
    await deps.restartNode(call);
  } catch (error) {
    return `old filesystem mounted again, but the node did not start: ${why(error)}`;
  }
  return 'old filesystem mounted again, node restarted';
}
