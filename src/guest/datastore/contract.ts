import type { ServiceStatus } from '../conductor/statuses';
import type { CallContext } from '../rpc/types';
import type { PrepareArgs } from './schemas';

/** What prepare hands to the datastore, in camelCase; null where the controller sent nothing. */
export interface PrepareRequest {
  readonly packages: readonly string[];
  readonly memoryMb: number | null;
  readonly devicePath: string | null;
  readonly mountPoint: string | null;
  readonly backupInfo: Readonly<Record<string, unknown>> | null;
  readonly configContents: string | null;
  readonly rootPassword: string | null;
  readonly overrides: Readonly<Record<string, string | number | boolean | null>> | null;
  readonly clusterConfig: Readonly<Record<string, unknown>> | null;
  readonly snapshot: Readonly<Record<string, unknown>> | null;
  readonly modules: readonly Readonly<Record<string, unknown>>[] | null;
  readonly dsVersion: string | null;
}

/**
 * The datastore-specific half of the guest (Trove's do_prepare plus BaseDbStatus). The guest
 * core (prepare state machine, heartbeat) only talks to this; issue 3's K2HDKC manager
 * implements it.
 */
export interface Datastore {
  /** Installs, configures and starts the datastore; rejects on any failure. */
  prepare(request: PrepareRequest, call: CallContext): Promise<void>;
  /** The status to report in heartbeats right now. */
  status(): Promise<ServiceStatus>;
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
