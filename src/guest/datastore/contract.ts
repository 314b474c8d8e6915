import type { ServiceStatus } from '../../conductor/statuses';
import type { CallContext } from '../../rpc/types';

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

/** The node operations the method table serves besides prepare (Trove's restart, stop_db, ...). */
export interface NodeOperations {
  restart(call: CallContext): Promise<void>;
  /** Always takes the node out of the cluster; `doNotStartOnReboot` (Trove 1.0) keeps it down across an agent start. */
  stopDb(options: { readonly doNotStartOnReboot: boolean }, call: CallContext): Promise<void>;
  startDbWithConfChanges(configContents: string | null, call: CallContext): Promise<void>;
}
