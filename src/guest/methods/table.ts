import type { Logger } from '../../log';
import type { MethodEntry, MethodTable } from '../../rpc/types';
import { refusedDuringPrepare, type PrepareGuard } from '../prepare/guard';
import { backupMethods, type BackupMethodsDeps } from './backup';
import { configMethods, type ConfigMethodsDeps } from './configuration';
import { lifecycleMethods, nodeMethods, type LifecycleMethodsDeps, type NodeMethodsDeps } from './lifecycle';
import { logMethods, type LogMethodsDeps } from './logs';
import { volumeMethods, type VolumeMethodsDeps } from './volume';

/**
 * What the table is built from. The lifecycle and the agent's own log are always served; each
 * optional group is what a datastore contributes (src/datastores/): absent = NoSuchMethod.
 */
export interface GuestMethodsDeps extends LifecycleMethodsDeps, LogMethodsDeps {
  readonly guestId: string;
  /** restart, stop_db, start_db_with_conf_changes. */
  readonly node?: NodeMethodsDeps;
  /** update_overrides, apply_overrides, reset_configuration, *_upgrade. */
  readonly configuration?: ConfigMethodsDeps;
  /** mount_volume, unmount_volume, resize_fs. */
  readonly volume?: VolumeMethodsDeps;
  /** create_backup. */
  readonly backup?: BackupMethodsDeps;
  /** Refuses the configuration, volume and backup methods while a prepare runs; absent = no check. */
  readonly prepareGuard?: Pick<PrepareGuard, 'refuseDuringPrepare'>;
  readonly log: Logger;
}

/**
 * The methods this guest serves (Trove's Manager, written as data). Names Trove sends that are
 * not here (the SQL user/database calls, replication, ...) get NoSuchMethod from the dispatcher,
 * which is what Trove's base manager answers for many of them too.
 */
export function buildGuestMethods(deps: GuestMethodsDeps): MethodTable {
  const guard = deps.prepareGuard;
  const guarded = (entries: MethodEntry[]): MethodEntry[] => (guard === undefined ? entries : refusedDuringPrepare(guard, entries));
  return [
    ...lifecycleMethods(deps),
    ...logMethods(deps),
    ...(deps.node === undefined ? [] : nodeMethods(deps.node)),
    ...(deps.configuration === undefined ? [] : guarded(configMethods(deps.configuration))),
    ...(deps.volume === undefined ? [] : guarded(volumeMethods(deps.volume))),
    // Guarded inside: a refused create_backup (a cast) must still set its backup row FAILED.
    ...(deps.backup === undefined ? [] : backupMethods(guard === undefined ? deps.backup : { ...deps.backup, prepareGuard: guard })),
  ];
}
