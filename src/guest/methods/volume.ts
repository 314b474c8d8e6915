import { NotSupportedError } from '../../errors';
import type { MethodEntry } from '../../rpc/types';
import type { Volume } from '../../system/volume';
import { absolutePath } from './bounds';
import { entry as tableEntry } from './entry';

/** What the volume methods need: the Volume (null when [k2hdkc] manage_volume is off) and the configured paths. */
export interface VolumeMethodsDeps {
  readonly volume: Pick<Volume, 'mount' | 'unmount' | 'resize'> | null;
  /** Used when Trove sends None ([k2hdkc] device_path / mount_point). */
  readonly devicePath: string;
  readonly mountPoint: string;
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
  const entry = <A>(name: string, schema: Readonly<Record<string, unknown>>, run: (args: A) => Promise<void>): MethodEntry =>
    tableEntry<A>(name, schema, async (args) => {
      await run(args);
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
    entry<ResizeFsArgs>('resize_fs', resizeFsSchema, async (args) => {
      const { device, mountPoint } = paths(args);
      // 1.0 sends no `online`; Trove's default there is an offline resize.
      await volume('resize_fs').resize(device, mountPoint, args.online === true);
    }),
  ];
}
