/**
 * Every option the agent reads, with its oslo.config type and default. Trove's own names and
 * defaults are kept (control_exchange defaults to `openstack`: Trove never overrides oslo's
 * default, spec/trove-rpc.md §2.1). The ajv schema is derived from this table, so a key cannot
 * be read without being validated.
 */
export type OptionType = 'string' | 'integer' | 'boolean';

export interface OptionDef {
  readonly section: string;
  readonly key: string;
  readonly type: OptionType;
  /** undefined = required; null = optional with no value. */
  readonly default?: string | number | boolean | null;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly enum?: readonly string[];
  readonly pattern?: string;
  readonly minLength?: number;
}

const D = 'DEFAULT';
const RABBIT = 'oslo_messaging_rabbit';
const AGENT = 'k2hdkc';
const CREDS = 'service_credentials';

export const OPTIONS: readonly OptionDef[] = [
  // guest_info.conf, written by the taskmanager for this instance.
  { section: D, key: 'guest_id', type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$' },
  { section: D, key: 'datastore_manager', type: 'string', default: 'k2hdkc', minLength: 1 },
  { section: D, key: 'datastore_version', type: 'string', default: null },
  { section: D, key: 'tenant_id', type: 'string', default: null },
  { section: D, key: 'instance_rpc_encr_key', type: 'string', default: null },
  // trove-guestagent.conf, a copy of the controller's guest_config.
  { section: D, key: 'transport_url', type: 'string', minLength: 1 },
  { section: D, key: 'control_exchange', type: 'string', default: 'openstack', minLength: 1 },
  { section: D, key: 'conductor_queue', type: 'string', default: 'trove-conductor', minLength: 1 },
  { section: D, key: 'report_interval', type: 'integer', default: 30, minimum: 1, maximum: 3600 },
  { section: D, key: 'debug', type: 'boolean', default: false },
  // Backups (issue 4), Trove's own names and defaults (trove/common/cfg.py): the Swift endpoint is
  // swift_url + project id, else the token's catalog (service type, endpoint type, region).
  { section: D, key: 'swift_url', type: 'string', default: null, pattern: '^https?://' },
  { section: D, key: 'swift_service_type', type: 'string', default: 'object-store', minLength: 1 },
  { section: D, key: 'swift_endpoint_type', type: 'string', default: 'publicURL', minLength: 1 },
  { section: D, key: 'backup_swift_container', type: 'string', default: 'database_backups', minLength: 1 },
  { section: D, key: 'backup_segment_max_size', type: 'integer', default: 2 * 1024 ** 3, minimum: 1024 * 1024 },
  // Encrypts backups as Trove 18 decrypts them (openssl enc -aes-256-cbc -pbkdf2); never logged.
  { section: D, key: 'backup_aes_cbc_key', type: 'string', default: null },
  { section: CREDS, key: 'region_name', type: 'string', default: 'RegionOne', minLength: 1 },
  // Keystone for the user token's own project (K2HR3 self-provisioning) when the request's catalog has none.
  { section: CREDS, key: 'auth_url', type: 'string', default: null, pattern: '^https?://' },
  { section: RABBIT, key: 'amqp_durable_queues', type: 'boolean', default: false },
  { section: RABBIT, key: 'amqp_auto_delete', type: 'boolean', default: false },
  { section: RABBIT, key: 'rabbit_ha_queues', type: 'boolean', default: false },
  { section: RABBIT, key: 'rabbit_quorum_queue', type: 'boolean', default: false },
  { section: RABBIT, key: 'rabbit_transient_queues_ttl', type: 'integer', default: 1800, minimum: 1 },
  { section: RABBIT, key: 'rabbit_qos_prefetch_count', type: 'integer', default: 0, minimum: 0 },
  { section: RABBIT, key: 'heartbeat_timeout_threshold', type: 'integer', default: 60, minimum: 0 },
  { section: RABBIT, key: 'ssl', type: 'boolean', default: false },
  { section: RABBIT, key: 'ssl_ca_file', type: 'string', default: null },
  { section: RABBIT, key: 'ssl_cert_file', type: 'string', default: null },
  { section: RABBIT, key: 'ssl_key_file', type: 'string', default: null },
  // The agent's own group.
  { section: AGENT, key: 'state_dir', type: 'string', default: '/opt/trove-guestagent', pattern: '^/' },
  { section: AGENT, key: 'mount_point', type: 'string', default: '/var/lib/antpickax/k2hdkc', pattern: '^/' },
  { section: AGENT, key: 'device_path', type: 'string', default: '/dev/vdb', pattern: '^/' },
  { section: AGENT, key: 'http_host', type: 'string', default: '127.0.0.1', minLength: 1 },
  { section: AGENT, key: 'http_port', type: 'integer', default: 8790, minimum: 0, maximum: 65535 },
  {
    section: AGENT,
    key: 'log_level',
    type: 'string',
    default: null,
    enum: ['trace', 'debug', 'info', 'warn', 'error'],
  },
  // The agent's log lines also go to this file (the `guest` log of `openstack database log`); unset:
  // the journal of its systemd unit, when it runs under systemd.
  { section: AGENT, key: 'log_file', type: 'string', default: null, pattern: '^/' },
  { section: AGENT, key: 'shutdown_grace_seconds', type: 'integer', default: 20, minimum: 0, maximum: 600 },
  { section: AGENT, key: 'max_message_bytes', type: 'integer', default: 4194304, minimum: 65536 },
  // The K2HDKC manager (issue 3). `datastore = base` keeps only the volume check (core tests).
  { section: AGENT, key: 'datastore', type: 'string', default: 'k2hdkc', enum: ['base', 'k2hdkc'] },
  { section: AGENT, key: 'mode', type: 'string', default: 'server', enum: ['server', 'slave'] },
  { section: AGENT, key: 'cluster_name', type: 'string', default: null, pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$' },
  { section: AGENT, key: 'node_name', type: 'string', default: null, pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,254}$' },
  { section: AGENT, key: 'extdata_url', type: 'string', default: null, pattern: '^https?://' },
  { section: AGENT, key: 'k2hr3_api_url', type: 'string', default: null, pattern: '^https?://' },
  { section: AGENT, key: 'local_address', type: 'string', default: null, minLength: 1 },
  { section: AGENT, key: 'ini_path', type: 'string', default: '/etc/antpickax/k2hdkc.ini', pattern: '^/' },
  { section: AGENT, key: 'ini_template_path', type: 'string', default: null, pattern: '^/' },
  { section: AGENT, key: 'process_manager', type: 'string', default: 'systemd', enum: ['systemd', 'supervisor'] },
  { section: AGENT, key: 'chmpx_path', type: 'string', default: 'chmpx', minLength: 1 },
  { section: AGENT, key: 'k2hdkc_path', type: 'string', default: 'k2hdkc', minLength: 1 },
  { section: AGENT, key: 'run_dir', type: 'string', default: '/var/run/antpickax', pattern: '^/' },
  { section: AGENT, key: 'daemon_log_dir', type: 'string', default: null, pattern: '^/' },
  { section: AGENT, key: 'manage_volume', type: 'boolean', default: true },
  { section: AGENT, key: 'raise_mqueue', type: 'boolean', default: true },
  { section: AGENT, key: 'ctlport_host', type: 'string', default: null, minLength: 1 },
  { section: AGENT, key: 'prepare_timeout_seconds', type: 'integer', default: 300, minimum: 1, maximum: 86400 },
  { section: AGENT, key: 'health_poll_ms', type: 'integer', default: 200, minimum: 10, maximum: 60000 },
  // Backups: the k2hash tool that writes (`ar put`) and loads (`ar load`) archives; progress log interval.
  { section: AGENT, key: 'k2hlinetool_path', type: 'string', default: 'k2hlinetool', minLength: 1 },
  { section: AGENT, key: 'backup_progress_interval_seconds', type: 'integer', default: 10, minimum: 1, maximum: 3600 },
  // Live reconfiguration: seconds between K2HR3 reads (0 = off); k2hr3_poll_ms overrides it (tests).
  { section: AGENT, key: 'k2hr3_poll_seconds', type: 'integer', default: 10, minimum: 0, maximum: 86400 },
  { section: AGENT, key: 'k2hr3_poll_ms', type: 'integer', default: null, minimum: 50, maximum: 86400000 },
];

/** Sections whose unknown keys are ignored (Trove's guest config carries many options we do not use). */
export const KNOWN_SECTIONS: readonly string[] = [D, RABBIT, AGENT, CREDS];

/** The ajv schema for the typed values: `{ [section]: { [key]: value } }`. */
export function optionsSchema(): Record<string, unknown> {
  const sections: Record<string, { type: 'object'; properties: Record<string, unknown>; required: string[] }> = {};
  for (const option of OPTIONS) {
    const section = (sections[option.section] ??= { type: 'object', properties: {}, required: [] });
    const property: Record<string, unknown> = { type: option.default === null ? [option.type, 'null'] : option.type };
    if (option.minimum !== undefined) property['minimum'] = option.minimum;
    if (option.maximum !== undefined) property['maximum'] = option.maximum;
    if (option.pattern !== undefined) property['pattern'] = option.pattern;
    if (option.minLength !== undefined) property['minLength'] = option.minLength;
    if (option.enum !== undefined) property['enum'] = [...option.enum, ...(option.default === null ? [null] : [])];
    section.properties[option.key] = property;
    section.required.push(option.key);
  }
  return { type: 'object', properties: sections, required: Object.keys(sections) };
}
