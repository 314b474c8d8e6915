import { promises as fs } from 'node:fs';
import type { Logger } from '../log';
import type { CallContext, MethodEntry, MethodTable } from '../rpc/types';
import { getFilesystemStats, type FilesystemStats } from '../system/fs-stats';
import { precompiledValidator } from '../validation/validators';
import { NotSupportedError } from '../errors';
import { toPrepareRequest } from './datastore';
import type { NodeOperations } from './k2hdkc-datastore';
import type { PrepareController } from './prepare';
import { refusedDuringPrepare, type PrepareGuard } from './prepare-guard';
import { backupMethods, type BackupMethodsDeps } from './backup-methods';
import { volumeMethods, type VolumeMethodsDeps } from './volume-methods';
import { configMethods, logMethods, type ConfigMethodsDeps } from './config-methods';
import type { GuestLogs } from './config-methods-logs';
import {
  clusterCompleteSchema,
  getFilesystemStatsSchema,
  guestLogListSchema,
  prepareSchema,
  rebuildSchema,
  restartSchema,
  rpcPingSchema,
  startDbWithConfChangesSchema,
  stopDbSchema,
  type GetFilesystemStatsArgs,
  type PrepareArgs,
  type StartDbWithConfChangesArgs,
  type StopDbArgs,
} from './schemas';

export interface GuestMethodsDeps {
  readonly guestId: string;
  /** guest_info.conf datastore_manager; part of the log's Swift metafile name. */
  readonly datastoreManager: string;
  /** Default path of get_filesystem_stats. */
  readonly mountPoint: string;
  /** The agent's own log file, or null when it logs to stdout/journald only. */
  readonly guestLogFile: string | null;
  readonly prepare: Pick<PrepareController, 'prepare'> & Partial<Pick<PrepareController, 'completeCluster'>>;
  /** restart, stop_db, start_db_with_conf_changes; absent = those names get NoSuchMethod. */
  readonly node?: {
    readonly operations: NodeOperations;
    /** Sends the datastore's status now, after any beat in flight (restart replies after one). */
    readonly beatNow: () => Promise<unknown>;
  };
  /** update_overrides, apply_overrides, reset_configuration, *_upgrade; absent = NoSuchMethod. */
  readonly configuration?: ConfigMethodsDeps;
  /** The logs guest_log_list/guest_log_action serve (agent, chmpx, k2hdkc); absent = the agent's own log only, no action. */
  readonly guestLogs?: Pick<GuestLogs, 'list' | 'action'>;
  /** mount_volume, unmount_volume, resize_fs; absent = NoSuchMethod. */
  readonly volume?: VolumeMethodsDeps;
  /** create_backup; absent = NoSuchMethod. */
  readonly backup?: BackupMethodsDeps;
  /** Refuses the configuration, volume and backup methods while a prepare runs; absent = no check. */
  readonly prepareGuard?: Pick<PrepareGuard, 'refuseDuringPrepare'>;
  readonly log: Logger;
}

/** One entry of guest_log_list, as Trove's GuestLog.show() (spec §5); returned verbatim to users. */
export interface GuestLogEntry {
  readonly name: string;
  readonly type: 'SYS' | 'USER';
  readonly status: string;
  readonly published: number;
  readonly pending: number;
  readonly container: string;
  readonly prefix: string;
  readonly metafile: string;
}

function entry<A>(name: string, schema: Readonly<Record<string, unknown>>, handler: (args: A, call: CallContext) => unknown): MethodEntry {
  // args have passed `schema` before the handler runs (src/rpc dispatcher). The validator
  // generated from it at build time, when there is one, spares the agent loading ajv.
  return { name, schema, validate: precompiledValidator(schema), handler: (args, call) => handler(args as A, call) };
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
    entry('rpc_ping', rpcPingSchema, () => true),
    entry<GetFilesystemStatsArgs>('get_filesystem_stats', getFilesystemStatsSchema, (args): Promise<FilesystemStats> =>
      getFilesystemStats(args.fs_path ?? deps.mountPoint),
    ),
    entry('guest_log_list', guestLogListSchema, () => (deps.guestLogs === undefined ? listGuestLogs(deps) : deps.guestLogs.list())),
    ...(deps.guestLogs === undefined ? [] : logMethods(deps.guestLogs)),
    ...(deps.configuration === undefined ? [] : guarded(configMethods(deps.configuration))),
    // A cast: the controller gets no reply and follows progress through heartbeats.
    entry<PrepareArgs>('prepare', prepareSchema, (args, call) => deps.prepare.prepare(toPrepareRequest(args), call)),
    ...(deps.prepare.completeCluster === undefined
      ? []
      : [entry('cluster_complete', clusterCompleteSchema, () => deps.prepare.completeCluster?.())]),
    // Known but refused, as Trove's base guest manager does (not NoSuchMethod).
    entry('rebuild', rebuildSchema, () => Promise.reject(new NotSupportedError('rebuild'))),
    ...(deps.node === undefined ? [] : nodeMethods(deps.node)),
    ...(deps.volume === undefined ? [] : guarded(volumeMethods(deps.volume))),
    // Guarded inside: a refused create_backup (a cast) must still set its backup row FAILED.
    ...(deps.backup === undefined ? [] : backupMethods(guard === undefined ? deps.backup : { ...deps.backup, prepareGuard: guard })),
  ];
}

/** Trove's node operations (spec trove-rpc.md §5, §7.4); each returns None (null) on the wire. */
function nodeMethods(node: NonNullable<GuestMethodsDeps['node']>): MethodEntry[] {
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

/**
 * The agent's own log as the one SYS log Trove can list. Publishing to Swift is not implemented,
 * so nothing is ever published: everything present is pending.
 */
export async function listGuestLogs(deps: Pick<GuestMethodsDeps, 'guestId' | 'datastoreManager' | 'guestLogFile'>): Promise<GuestLogEntry[]> {
  let size: number | null = null;
  if (deps.guestLogFile !== null) {
    try {
      const stats = await fs.stat(deps.guestLogFile);
      if (stats.isFile()) size = stats.size;
    } catch {
      size = null;
    }
  }
  // Trove's statuses: Unavailable (no file), Enabled (empty, nothing to publish), Ready (has data).
  const status = size === null ? 'Unavailable' : size > 0 ? 'Ready' : 'Enabled';
  return [
    {
      name: 'guest',
      type: 'SYS',
      status,
      published: 0,
      pending: size ?? 0,
      container: 'None',
      prefix: 'None',
      metafile: `${deps.guestId}/${deps.datastoreManager}-guest_metafile`,
    },
  ];
}
