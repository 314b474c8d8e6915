/** One broker from transport_url (`rabbit://user:pass@host:port,user:pass@host2:port/vhost`). */
export interface BrokerHost {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly password: string;
}

export interface TransportUrl {
  /** Tried in turn on connect and on every reconnect. */
  readonly hosts: readonly BrokerHost[];
  /** Decoded virtual host; '/' when the URL has none. */
  readonly vhost: string;
  /** `rabbit` or `amqp`; TLS is chosen by [oslo_messaging_rabbit] ssl, as in oslo. */
  readonly scheme: string;
}

/** [oslo_messaging_rabbit] flags that change how queues and exchanges are declared (spec §2.2). */
export interface RabbitConfig {
  readonly amqpDurableQueues: boolean;
  readonly amqpAutoDelete: boolean;
  readonly rabbitHaQueues: boolean;
  readonly rabbitQuorumQueue: boolean;
  /** Seconds; becomes x-expires (ms) on fanout and reply queues only. 0 disables. */
  readonly rabbitTransientQueuesTtl: number;
  readonly rabbitQosPrefetchCount: number;
  readonly ssl: boolean;
  readonly sslCaFile: string | null;
  readonly sslCertFile: string | null;
  readonly sslKeyFile: string | null;
  /** Seconds; AMQP heartbeat negotiated with the broker. */
  readonly heartbeatTimeoutThreshold: number;
}

export interface MessagingConfig {
  readonly transportUrl: TransportUrl;
  readonly controlExchange: string;
  readonly conductorQueue: string;
  readonly rabbit: RabbitConfig;
}

/** What Trove writes into /etc/trove/conf.d/guest_info.conf. */
export interface GuestInfoConfig {
  readonly guestId: string;
  readonly datastoreManager: string;
  readonly datastoreVersion: string | null;
  readonly tenantId: string | null;
  /** null when the controller runs with enable_secure_rpc_messaging=False. */
  readonly instanceRpcEncrKey: string | null;
}

/** The agent's own [k2hdkc] group (agent runtime part; the K2HDKC manager adds its keys). */
export interface AgentRuntimeConfig {
  /** Where the prepare markers live (Trove's guest uses /opt/trove-guestagent). */
  readonly stateDir: string;
  /** Default path for get_filesystem_stats when fs_path is null. */
  readonly mountPoint: string;
  readonly devicePath: string;
  readonly httpHost: string;
  /** 0 disables the health/metrics endpoint. */
  readonly httpPort: number;
  readonly logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  /** [k2hdkc] log_file: the agent's log lines also go here (the `guest` log); null = stdout only. */
  readonly logFile: string | null;
  /** How long SIGTERM waits for in-flight calls. */
  readonly shutdownGraceMs: number;
  /** Bodies larger than this are answered with a failure (or dropped) without being parsed. */
  readonly maxMessageBytes: number;
}

/** The K2HDKC manager's slice of [k2hdkc] (issue 3). */
export interface K2hdkcConfig {
  /** `base` = volume check only (core tests); `k2hdkc` = the K2HDKC manager. */
  readonly datastore: 'base' | 'k2hdkc';
  readonly mode: 'server' | 'slave';
  /** Cluster name for self-provisioning; null = the guest id. */
  readonly clusterName: string | null;
  /** K2HR3 `tag`, which becomes chmpx NAME and CUSTOM_ID_SEED; null = the host name. */
  readonly nodeName: string | null;
  /** Trove's extdata-url (bootstrap a); wins over k2hr3ApiUrl. */
  readonly extdataUrl: string | null;
  /** K2HR3 API for self-provisioning with the Keystone token of the prepare context (bootstrap b). */
  readonly k2hr3ApiUrl: string | null;
  /** Source address of K2HR3 requests: K2HR3 registers the host by it. */
  readonly localAddress: string | null;
  readonly iniPath: string;
  /** INI template for self-provisioning; unset = the shipped datastore/k2hdkc-dbaas-template.txt. */
  readonly iniTemplatePath: string | null;
  readonly processManager: 'systemd' | 'supervisor';
  readonly chmpxPath: string;
  readonly k2hdkcPath: string;
  readonly runDir: string;
  readonly daemonLogDir: string | null;
  /** Format/mount device_path at prepare; false where the agent does not own the disk (tests). */
  readonly manageVolume: boolean;
  readonly raiseMqueue: boolean;
  /** Where this node's control port listens; null = the node's own NAME from the INI. */
  readonly ctlportHost: string | null;
  readonly prepareTimeoutMs: number;
  readonly healthPollMs: number;
  /** Mean ms between K2HR3 reads for live reconfiguration; 0 = off. */
  readonly k2hr3PollMs: number;
  /**
   * Keystone, asked for the user token's project name when the prepare context lacks it
   * (self-provisioning): `[service_credentials] auth_url`, used when the context's catalog has no
   * identity endpoint in `region_name`.
   */
  readonly keystone: { readonly authUrl: string | null; readonly regionName: string };
}

/** Backups to Swift (issue 4); Trove's option names, see src/config/options.ts. */
export interface BackupConfig {
  /** `[DEFAULT] swift_url` (ends in `AUTH_`; the project id is appended), or null = the token's catalog. */
  readonly swiftUrl: string | null;
  readonly swiftServiceType: string;
  readonly swiftEndpointType: string;
  /** `[service_credentials] region_name`: the catalog region. */
  readonly regionName: string;
  readonly defaultContainer: string;
  readonly segmentSize: number;
  /** null = backups are not encrypted. A secret: never logged. */
  readonly encryptionKey: string | null;
  readonly k2hlinetoolPath: string;
  readonly progressIntervalMs: number;
}

export interface AgentConfig {
  /** Files read, in the order they were applied. */
  readonly sources: readonly string[];
  readonly guest: GuestInfoConfig;
  readonly messaging: MessagingConfig;
  readonly reportIntervalMs: number;
  readonly agent: AgentRuntimeConfig;
  readonly k2hdkc: K2hdkcConfig;
  readonly backup: BackupConfig;
  /** Every key of [k2hdkc] as read (strings), for the K2HDKC manager to validate on its own. */
  readonly k2hdkcRaw: Readonly<Record<string, string>>;
}
