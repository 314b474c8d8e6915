import type { Logger } from '../log';
import type { K2hr3HttpOptions } from '../k2hr3/http';
import type { BootstrapOptions } from './bootstrap';
import type { ChmpxIni, NodeRole } from './ini/model';
import type { NodeProcesses, WaitReady } from './processes/types';
import type { IniOverlay } from './served-ini';

/** What the agent gives a K2hdkcManager: identity, K2HR3 access, paths, processes and timeouts. */
export interface K2hdkcManagerOptions {
  /** Trove's instance id: the K2HR3 cuk and the INI's SELFCUK. */
  readonly guestId: string;
  readonly role: NodeRole;
  /** K2HR3 tag = chmpx NAME = CUSTOM_ID_SEED (spec §1.3.2). */
  readonly nodeName: string;
  /** [k2hdkc] cluster_name; null = from the configuration, the cluster id or guestId (cluster-name.ts). */
  readonly clusterName: string | null;
  readonly extdataUrl: string | null;
  readonly k2hr3ApiUrl: string | null;
  readonly template: (() => Promise<string>) | null;
  /** Timeouts, retries and the source address of every K2HR3 request. */
  readonly k2hr3: K2hr3HttpOptions;
  readonly iniPath: string;
  /** Where the control port listens; null = the node's NAME from the INI. */
  readonly ctlportHost: string | null;
  /** Holds the saved K2HR3 bootstrap. */
  readonly stateDir: string;
  /** Builds the process manager; `waitReady` probes this manager's control port. */
  readonly createProcesses: (waitReady: WaitReady) => NodeProcesses;
  /** Formats and mounts the data volume; null = the agent does not own the disk. */
  readonly volume: { prepare(device: string, mountPoint: string): Promise<void> } | null;
  readonly prepareTimeoutMs: number;
  readonly healthPollMs: number;
  /** Live reconfiguration: mean ms between K2HR3 polls ([k2hdkc] k2hr3_poll_seconds); 0 = off. */
  readonly k2hr3PollMs?: number;
  /**
   * Ring forming and self-heal (k2hdkc/ring): check interval, start-gate grace, [ADD][Done] stall
   * before COMPMERGE; defaults 5 s / 45 s / 5 s. A slave: how long a serving server may be held
   * out of its view before its chmpx restarts, and the least gap between restarts; 3 s / 10 s.
   */
  readonly ring?: {
    readonly checkMs?: number;
    readonly startGraceMs?: number;
    readonly healAttempts?: number;
    readonly joinStallMs?: number;
    readonly slaveViewGraceMs?: number;
    readonly slaveRestartGapMs?: number;
  };
  /** Per-node INI keys (Trove configuration overrides) set on the text K2HR3 serves; absent = as served. */
  readonly iniOverlay?: IniOverlay;
  readonly log: Logger;
}

/** What prepare needs of Trove's request (camelCase; the guest layer converts). */
export interface NodePrepareRequest {
  readonly devicePath: string | null;
  readonly mountPoint: string | null;
  /**
   * Runs once the INI is in place and before chmpx/k2hdkc start (a backup restore into the data
   * file it names); a failure fails prepare with nothing started.
   */
  readonly beforeStart?: (ini: ChmpxIni) => Promise<void>;
  /** Cluster name, extdata URL and ports from Trove's configuration; they win over [k2hdkc] options. */
  readonly bootstrap?: Partial<Pick<BootstrapOptions, 'clusterName' | 'extdataUrl' | 'ports'>>;
  /** Id of the multi-node cluster the orchestrator created this node for (its members share it); null/absent = a single node. */
  readonly clusterId?: string | null;
}
