import {
  clusterCompleteSchema,
  getFilesystemStatsSchema,
  prepareSchema,
  rebuildSchema,
  restartSchema,
  rpcPingSchema,
  startDbWithConfChangesSchema,
  stopDbSchema,
} from './lifecycle';
import { applyOverridesSchema, preUpgradeSchema, resetConfigurationSchema, updateOverridesSchema, upgradeSchema } from './configuration';
import { guestLogActionSchema, guestLogListSchema } from './logs';
import { resizeFsSchema, volumePathsSchema } from './volume';

/**
 * The served surface: each method's schema by name (create_backup's is in backup.ts), for the
 * build's generated validators (src/validation/generate.ts) and the tests.
 */
export const GUEST_SCHEMAS = {
  update_overrides: updateOverridesSchema,
  apply_overrides: applyOverridesSchema,
  reset_configuration: resetConfigurationSchema,
  pre_upgrade: preUpgradeSchema,
  upgrade: upgradeSchema,
  post_upgrade: upgradeSchema,
  guest_log_action: guestLogActionSchema,
  prepare: prepareSchema,
  rpc_ping: rpcPingSchema,
  get_filesystem_stats: getFilesystemStatsSchema,
  guest_log_list: guestLogListSchema,
  restart: restartSchema,
  stop_db: stopDbSchema,
  start_db_with_conf_changes: startDbWithConfChangesSchema,
  cluster_complete: clusterCompleteSchema,
  rebuild: rebuildSchema,
  mount_volume: volumePathsSchema,
  unmount_volume: volumePathsSchema,
  resize_fs: resizeFsSchema,
} as const;
