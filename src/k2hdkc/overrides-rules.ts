/**
 * datastore/validation-rules.json, compiled into the agent: a VM carries dist/ only, never the
 * controller-side datastore/ directory, and a constant needs no file read or JSON check at run
 * time. test/unit/k2hdkc/overrides-rules.test.ts fails when the two drift apart; regenerate this
 * file from the JSON (see that test) after editing the rules.
 */
export interface ConfigurationRule {
  readonly name: string;
  readonly restart_required: boolean;
  readonly type: 'integer' | 'string' | 'boolean' | 'float';
  readonly min?: number;
  readonly max?: number;
  readonly description: string;
}

export const CONFIGURATION_RULES: readonly ConfigurationRule[] = [
  {"name":"cluster-name","restart_required":true,"type":"string","description":"K2HDKC cluster (chmpx GROUP, K2HR3 resource and role name) the node joins. Read at prepare; letters, digits, '_', '.', '-' only, at most 128 characters. Empty = the Trove cluster, or the instance id for a single instance."},
  {"name":"extdata-url","restart_required":true,"type":"string","description":"K2HR3 extdata URL (http or https) that hands the node its role token; read at prepare. Empty = self-provisioning through [k2hdkc] k2hr3_api_url."},
  {"name":"chmpx-server-port","restart_required":true,"type":"integer","min":1,"max":32767,"description":"chmpx PORT of server nodes (data traffic). Written into the K2HR3 cluster resource at prepare when the agent provisions K2HR3; must be the same on every member; 1-32767 (chmpx keeps ports as signed 16-bit numbers)."},
  {"name":"chmpx-server-ctlport","restart_required":true,"type":"integer","min":1,"max":32767,"description":"chmpx CTLPORT of server nodes (control port). Written into the K2HR3 cluster resource at prepare when the agent provisions K2HR3; must be the same on every member; 1-32767 (chmpx keeps ports as signed 16-bit numbers)."},
  {"name":"chmpx-slave-ctlport","restart_required":true,"type":"integer","min":1,"max":32767,"description":"chmpx CTLPORT of slave (client) nodes. Written into the K2HR3 cluster resource at prepare when the agent provisions K2HR3; 1-32767 (chmpx keeps ports as signed 16-bit numbers)."},
  {"name":"chmpx-suspend-merge","restart_required":false,"type":"boolean","description":"Suspend chmpx automatic merging ring-wide (control-port SUSPENDMERGE / NOSUSPENDMERGE), e.g. while adding many servers at once. Applied live."},
  {"name":"chmpx-sockthreadcnt","restart_required":true,"type":"integer","min":1,"max":64,"description":"chmpx [GLOBAL] SOCKTHREADCNT: socket worker threads of this node."},
  {"name":"chmpx-mqthreadcnt","restart_required":true,"type":"integer","min":1,"max":64,"description":"chmpx [GLOBAL] MQTHREADCNT: message-queue worker threads of this node."},
  {"name":"chmpx-maxsockpool","restart_required":true,"type":"integer","min":1,"max":256,"description":"chmpx [GLOBAL] MAXSOCKPOOL: sockets kept open per peer."},
  {"name":"chmpx-sockpooltimeout","restart_required":true,"type":"integer","min":0,"max":86400,"description":"chmpx [GLOBAL] SOCKPOOLTIMEOUT in seconds: idle time before a pooled socket is closed (0 = never)."},
  {"name":"chmpx-rwtimeout","restart_required":true,"type":"integer","min":1000,"max":60000000,"description":"chmpx [GLOBAL] RWTIMEOUT in microseconds: socket read/write timeout."},
  {"name":"chmpx-retrycnt","restart_required":true,"type":"integer","min":1,"max":100000,"description":"chmpx [GLOBAL] RETRYCNT: socket read/write retries."},
  {"name":"chmpx-contimeout","restart_required":true,"type":"integer","min":1000,"max":60000000,"description":"chmpx [GLOBAL] CONTIMEOUT in microseconds: connect timeout."},
  {"name":"chmpx-mqrwtimeout","restart_required":true,"type":"integer","min":1,"max":60000000,"description":"chmpx [GLOBAL] MQRWTIMEOUT in microseconds: POSIX message-queue read/write timeout."},
  {"name":"chmpx-mqretrycnt","restart_required":true,"type":"integer","min":1,"max":1000000,"description":"chmpx [GLOBAL] MQRETRYCNT: message-queue retries."},
  {"name":"chmpx-mergetimeout","restart_required":true,"type":"integer","min":0,"max":86400,"description":"chmpx [GLOBAL] MERGETIMEOUT in seconds: limit of one merge (0 = no limit)."},
  {"name":"k2hdkc-maxthread","restart_required":true,"type":"integer","min":1,"max":1000,"description":"k2hdkc [K2HDKC] MAXTHREAD: most request threads of the k2hdkc server."},
  {"name":"k2hdkc-minthread","restart_required":true,"type":"integer","min":1,"max":1000,"description":"k2hdkc [K2HDKC] MINTHREAD: request threads kept idle (not above k2hdkc-maxthread)."},
  {"name":"k2hdkc-reducetime","restart_required":true,"type":"integer","min":1,"max":86400,"description":"k2hdkc [K2HDKC] REDUCETIME in seconds: idle time before surplus threads exit."},
  {"name":"k2hdkc-rcvtimeout","restart_required":true,"type":"integer","min":1,"max":600000,"description":"k2hdkc [K2HDKC] RCVTIMEOUT in milliseconds: receive timeout of the k2hdkc server."},
];
