/**
 * One ajv schema per served method: the kwargs object of the oslo message (spec §5, §8).
 *
 * - Every kwarg is optional: a 1.0-capped controller drops `ds_version` and a future one may drop
 *   others (spec §8 "treat all of these args as optional"); handlers fill in defaults.
 * - The kwargs object itself is closed (`additionalProperties: false`): Trove 18's Python guest
 *   would raise TypeError on an unknown kwarg too. Dicts whose content Trove builds and may grow
 *   (backup_info, cluster_config, snapshot, overrides, users, databases, modules) stay open.
 * - Every string and list has a bound, so a hostile 10 MB argument is refused by validation
 *   before any handler sees it (the transport also caps the whole message size).
 * `nullable: true` (ajv's OpenAPI keyword) instead of `type: [x, 'null']` keeps ajv strict mode quiet.
 */

import { CONFIG_SCHEMAS } from './config-methods-schemas';

/** Longest path we accept (Linux PATH_MAX). */
const PATH_MAX = 4096;
/** Rendered config.template for the datastore; a few KB in practice. */
const CONFIG_MAX = 1024 * 1024;
const NAME_MAX = 255;

const absolutePath = { type: 'string', nullable: true, minLength: 1, maxLength: PATH_MAX, pattern: '^/' } as const;
const shortString = { type: 'string', nullable: true, maxLength: NAME_MAX } as const;
/** A Trove-built dict: open, but with a bounded number of keys. */
const openDict = { type: 'object', nullable: true, maxProperties: 256 } as const;
const dictList = { type: 'array', nullable: true, maxItems: 256, items: { type: 'object', maxProperties: 256 } } as const;

const noArgs = { type: 'object', additionalProperties: false, properties: {} } as const;

/** `prepare` (cast, 1.1; 1.0 without ds_version). */
export const prepareSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    packages: { type: 'array', nullable: true, maxItems: 256, items: { type: 'string', maxLength: NAME_MAX } },
    databases: dictList,
    memory_mb: { type: 'integer', nullable: true, minimum: 0, maximum: 1 << 30 },
    users: dictList,
    device_path: absolutePath,
    mount_point: absolutePath,
    backup_info: {
      ...openDict,
      properties: {
        id: shortString,
        instance_id: shortString,
        location: { type: 'string', nullable: true, maxLength: 1024 },
        type: shortString,
        checksum: shortString,
      },
    },
    config_contents: { type: 'string', nullable: true, maxLength: CONFIG_MAX },
    root_password: shortString,
    overrides: {
      ...openDict,
      maxProperties: 1024,
      additionalProperties: {
        anyOf: [{ type: 'string', maxLength: PATH_MAX }, { type: 'number' }, { type: 'boolean' }, { type: 'null' }],
      },
    },
    cluster_config: openDict,
    snapshot: openDict,
    modules: dictList,
    ds_version: shortString,
  },
} as const;

/** `get_filesystem_stats` (call, 1.0). Trove always sends `fs_path: null`. */
export const getFilesystemStatsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { fs_path: absolutePath },
} as const;

export const rpcPingSchema = noArgs;
export const guestLogListSchema = noArgs;

/** `restart` (call, 1.0, high timeout): replies once the node is healthy. */
export const restartSchema = noArgs;

/** `stop_db` (call; 1.1 sends nothing, 1.0 adds do_not_start_on_reboot). */
export const stopDbSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { do_not_start_on_reboot: { type: 'boolean', nullable: true } },
} as const;

/** `start_db_with_conf_changes` (call; 1.1, 1.0 without ds_version). */
export const startDbWithConfChangesSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    config_contents: { type: 'string', nullable: true, maxLength: CONFIG_MAX },
    ds_version: shortString,
  },
} as const;

/** `cluster_complete` (cast, no args; sent by a cluster strategy when all members are ready). */
export const clusterCompleteSchema = noArgs;

/** `rebuild` (cast, 1.0): answered DatastoreOperationNotSupported, as Trove's base manager does. */
export const rebuildSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ds_version: shortString,
    config_contents: { type: 'string', nullable: true, maxLength: CONFIG_MAX },
    config_overrides: openDict,
  },
} as const;

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

/** The schemas by method name, for tests and for documentation of the served surface. */
export const GUEST_SCHEMAS = {
  ...CONFIG_SCHEMAS,
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

/** `prepare` kwargs after validation (wire names). */
export interface PrepareArgs {
  packages?: string[] | null;
  databases?: Record<string, unknown>[] | null;
  memory_mb?: number | null;
  users?: Record<string, unknown>[] | null;
  device_path?: string | null;
  mount_point?: string | null;
  backup_info?: Record<string, unknown> | null;
  config_contents?: string | null;
  root_password?: string | null;
  overrides?: Record<string, string | number | boolean | null> | null;
  cluster_config?: Record<string, unknown> | null;
  snapshot?: Record<string, unknown> | null;
  modules?: Record<string, unknown>[] | null;
  ds_version?: string | null;
}

export interface GetFilesystemStatsArgs {
  fs_path?: string | null;
}

export interface StopDbArgs {
  do_not_start_on_reboot?: boolean | null;
}

export interface StartDbWithConfChangesArgs {
  config_contents?: string | null;
  ds_version?: string | null;
}

export interface VolumePathsArgs {
  device_path?: string | null;
  mount_point?: string | null;
}

export interface ResizeFsArgs extends VolumePathsArgs {
  online?: boolean | null;
}
