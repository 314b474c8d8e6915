import type { CallContext, MethodEntry } from '../../rpc/types';
import { NotSupportedError } from '../../errors';
import { getFilesystemStats, type FilesystemStats } from '../../system/fs-stats';
import type { NodeOperations, PrepareRequest } from '../datastore/contract';
import type { PrepareController } from '../prepare/controller';
import { CONFIG_MAX, NAME_MAX, absolutePath, dictList, noArgs, openDict, shortString, PATH_MAX } from './bounds';
import { entry } from './entry';

/*
 * The guest's lifecycle: rpc_ping, get_filesystem_stats, prepare, cluster_complete, rebuild, and
 * the node operations restart, stop_db, start_db_with_conf_changes. Schemas follow bounds.ts.
 */

export interface LifecycleMethodsDeps {
  /** Default path of get_filesystem_stats. */
  readonly mountPoint: string;
  readonly prepare: Pick<PrepareController, 'prepare'> & Partial<Pick<PrepareController, 'completeCluster'>>;
}

/** restart, stop_db, start_db_with_conf_changes: what a datastore with a node to run offers. */
export interface NodeMethodsDeps {
  readonly operations: NodeOperations;
  /** Sends the datastore's status now, after any beat in flight (restart replies after one). */
  readonly beatNow: () => Promise<unknown>;
}

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

/** rpc_ping, get_filesystem_stats, prepare, cluster_complete (when the controller completes clusters), rebuild. */
export function lifecycleMethods(deps: LifecycleMethodsDeps): MethodEntry[] {
  return [
    entry('rpc_ping', rpcPingSchema, () => true),
    entry<GetFilesystemStatsArgs>('get_filesystem_stats', getFilesystemStatsSchema, (args): Promise<FilesystemStats> =>
      getFilesystemStats(args.fs_path ?? deps.mountPoint),
    ),
    // A cast: the controller gets no reply and follows progress through heartbeats.
    entry<PrepareArgs>('prepare', prepareSchema, (args, call: CallContext) => deps.prepare.prepare(toPrepareRequest(args), call)),
    ...(deps.prepare.completeCluster === undefined
      ? []
      : [entry('cluster_complete', clusterCompleteSchema, () => deps.prepare.completeCluster?.())]),
    // Known but refused, as Trove's base guest manager does (not NoSuchMethod).
    entry('rebuild', rebuildSchema, () => Promise.reject(new NotSupportedError('rebuild'))),
  ];
}

/** Trove's node operations (spec trove-rpc.md §5, §7.4); each returns None (null) on the wire. */
export function nodeMethods(node: NodeMethodsDeps): MethodEntry[] {
  const { operations } = node;
  return [
    // Python's guest heartbeats `healthy` before replying; the controller only resets the task.
    entry('restart', restartSchema, async (_args, call) => {
      await operations.restart(call);
      // After any beat in flight, whose status may predate the restart; a lost one is logged by the loop.
      await node.beatNow();
      return null;
    }),
    // Trove's caller gives this 15 s. The node always leaves the cluster (deregistered: Trove's
    // delete sends nothing else); only 1.0 sends do_not_start_on_reboot, which keeps it down
    // across an agent start (reboot); restart / start_db_with_conf_changes bring it back.
    entry<StopDbArgs>('stop_db', stopDbSchema, async (args, call) => {
      await operations.stopDb({ doNotStartOnReboot: args.do_not_start_on_reboot === true }, call);
      return null;
    }),
    entry<StartDbWithConfChangesArgs>('start_db_with_conf_changes', startDbWithConfChangesSchema, async (args, call) => {
      await operations.startDbWithConfChanges(args.config_contents ?? null, call);
      await node.beatNow();
      return null;
    }),
  ];
}

/** Wire kwargs (snake_case, all optional) -> PrepareRequest. SQL-only users/databases are dropped. */
export function toPrepareRequest(args: PrepareArgs): PrepareRequest {
  return {
    packages: args.packages ?? [],
    memoryMb: args.memory_mb ?? null,
    devicePath: args.device_path ?? null,
    mountPoint: args.mount_point ?? null,
    backupInfo: args.backup_info ?? null,
    configContents: args.config_contents ?? null,
    rootPassword: args.root_password ?? null,
    overrides: args.overrides ?? null,
    clusterConfig: args.cluster_config ?? null,
    snapshot: args.snapshot ?? null,
    modules: args.modules ?? null,
    dsVersion: args.ds_version ?? null,
  };
}
