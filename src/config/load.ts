import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../errors';
import { IniSyntaxError, parseIni, type IniEntry } from './ini';
import { OPTIONS, optionsSchema, type OptionDef } from './options';
import { parseTransportUrl } from './transport-url';
import type { AgentConfig } from './types';
import { compileValidator, GENERATED_AJV_OPTIONS, precompiledValidator } from '../validation/validators';
import { shippedTemplatePath } from '../k2hdkc/shipped-template';

export interface ConfigSources {
  /** `--config-file` values, applied in order. */
  readonly configFiles: readonly string[];
  /** `--config-dir` values: every `*.conf` inside, sorted by name, applied after the files. */
  readonly configDirs: readonly string[];
}

/** Lowest-priority values (section → key → text) and the name errors give as their source. */
export interface ConfigDefaults {
  readonly source: string;
  readonly values: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

type Typed = string | number | boolean | null;
type Located = Pick<IniEntry, 'file' | 'line' | 'value'>;

/** Lists the files in the order oslo.config applies them; later ones override earlier ones. */
export function resolveConfigFiles(sources: ConfigSources): string[] {
  const files = [...sources.configFiles];
  for (const dir of sources.configDirs) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (cause) {
      throw new ConfigError(`cannot read config directory ${dir}: ${(cause as Error).message}`, { cause });
    }
    files.push(...names.filter((name) => name.endsWith('.conf')).sort().map((name) => join(dir, name)));
  }
  return files;
}

/** Reads, merges, types and validates the configuration; returns it frozen. Throws ConfigError. */
export function loadConfig(sources: ConfigSources, options: { readonly defaults?: ConfigDefaults } = {}): AgentConfig {
  const files = resolveConfigFiles(sources);
  if (files.length === 0) throw new ConfigError('no configuration: give --config-file or --config-dir');
  const merged = new Map<string, Map<string, Located>>();
  // Values supplied by the caller (the standalone node), overridden by every file.
  for (const [sectionName, keys] of Object.entries(options.defaults?.values ?? {})) {
    const section = new Map<string, Located>();
    merged.set(sectionName, section);
    for (const [key, value] of Object.entries(keys)) section.set(key, { file: options.defaults?.source ?? '(defaults)', line: 0, value });
  }
  for (const file of files) {
    for (const entry of readEntries(file)) {
      let section = merged.get(entry.section);
      if (section === undefined) merged.set(entry.section, (section = new Map()));
      section.set(entry.key, entry);
    }
  }
  const values = typeValues(merged, files);
  validate(values, merged, files);
  return deepFreeze(compile(values, merged, files));
}

function readEntries(file: string): IniEntry[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new ConfigError(`cannot read config file ${file}: ${(cause as Error).message}`, { cause });
  }
  try {
    return parseIni(text, file);
  } catch (cause) {
    if (cause instanceof IniSyntaxError) throw new ConfigError(cause.message, { cause });
    throw cause;
  }
}

function where(option: Pick<OptionDef, 'section' | 'key'>, found: Located | undefined, files: string[]): string {
  const place = found === undefined ? `none of ${files.join(', ')}` : `${found.file}:${found.line}`;
  return `[${option.section}] ${option.key} (${place})`;
}

function typeValues(merged: Map<string, Map<string, Located>>, files: string[]): Record<string, Record<string, Typed>> {
  const values: Record<string, Record<string, Typed>> = {};
  for (const option of OPTIONS) {
    const found = merged.get(option.section)?.get(option.key);
    const section = (values[option.section] ??= {});
    if (found === undefined || (found.value === '' && option.default !== undefined)) {
      if (option.default === undefined) {
        throw new ConfigError(`missing required option ${where(option, found, files)}`);
      }
      section[option.key] = option.default;
      continue;
    }
    section[option.key] = convert(option, found, files);
  }
  return values;
}

const TRUE_WORDS = new Set(['true', 'yes', 'on', '1']);
const FALSE_WORDS = new Set(['false', 'no', 'off', '0']);

function convert(option: OptionDef, found: Located, files: string[]): Typed {
  const text = found.value.trim();
  if (option.type === 'boolean') {
    const word = text.toLowerCase();
    if (TRUE_WORDS.has(word)) return true;
    if (FALSE_WORDS.has(word)) return false;
    throw new ConfigError(`invalid value for ${where(option, found, files)}: expected true or false, got '${text}'`);
  }
  if (option.type === 'integer') {
    if (!/^-?\d+$/.test(text)) {
      throw new ConfigError(`invalid value for ${where(option, found, files)}: expected an integer, got '${text}'`);
    }
    return Number(text);
  }
  return found.value;
}

// Generated at build time (src/validation/); ajv compiles it here only when run from src/.
const schema = optionsSchema();
const validateOptions = precompiledValidator(schema) ?? compileValidator(schema, GENERATED_AJV_OPTIONS);

function validate(values: Record<string, Record<string, Typed>>, merged: Map<string, Map<string, Located>>, files: string[]): void {
  if (validateOptions(values)) return;
  const error = validateOptions.errors?.[0];
  const [, section = '', key = ''] = (error?.instancePath ?? '').split('/');
  const found = merged.get(section)?.get(key);
  // Never echo the value of a secret-looking key back into a log line.
  const shown = /key|password|url/.test(key) ? '' : ` (got '${String(values[section]?.[key])}')`;
  throw new ConfigError(`invalid value for ${where({ section, key }, found, files)}: ${error?.message ?? 'invalid'}${shown}`);
}

function compile(values: Record<string, Record<string, Typed>>, merged: Map<string, Map<string, Located>>, files: string[]): AgentConfig {
  const str = (section: string, key: string): string => values[section]?.[key] as string;
  const optStr = (section: string, key: string): string | null => (values[section]?.[key] as string | null) ?? null;
  const int = (section: string, key: string): number => values[section]?.[key] as number;
  const bool = (section: string, key: string): boolean => values[section]?.[key] as boolean;

  let transportUrl;
  try {
    transportUrl = parseTransportUrl(str('DEFAULT', 'transport_url'));
  } catch (cause) {
    const found = merged.get('DEFAULT')?.get('transport_url');
    throw new ConfigError(`invalid value for ${where({ section: 'DEFAULT', key: 'transport_url' }, found, files)}: ${(cause as Error).message}`);
  }
  const k2hdkcRaw: Record<string, string> = {};
  for (const [key, entry] of merged.get('k2hdkc') ?? []) k2hdkcRaw[key] = entry.value;

  return {
    sources: files,
    guest: {
      guestId: str('DEFAULT', 'guest_id'),
      datastoreManager: str('DEFAULT', 'datastore_manager'),
      datastoreVersion: optStr('DEFAULT', 'datastore_version'),
      tenantId: optStr('DEFAULT', 'tenant_id'),
      instanceRpcEncrKey: optStr('DEFAULT', 'instance_rpc_encr_key'),
    },
    messaging: {
      transportUrl,
      controlExchange: str('DEFAULT', 'control_exchange'),
      conductorQueue: str('DEFAULT', 'conductor_queue'),
      rabbit: {
        amqpDurableQueues: bool('oslo_messaging_rabbit', 'amqp_durable_queues'),
        amqpAutoDelete: bool('oslo_messaging_rabbit', 'amqp_auto_delete'),
        rabbitHaQueues: bool('oslo_messaging_rabbit', 'rabbit_ha_queues'),
        rabbitQuorumQueue: bool('oslo_messaging_rabbit', 'rabbit_quorum_queue'),
        rabbitTransientQueuesTtl: int('oslo_messaging_rabbit', 'rabbit_transient_queues_ttl'),
        rabbitQosPrefetchCount: int('oslo_messaging_rabbit', 'rabbit_qos_prefetch_count'),
        ssl: bool('oslo_messaging_rabbit', 'ssl'),
        sslCaFile: optStr('oslo_messaging_rabbit', 'ssl_ca_file'),
        sslCertFile: optStr('oslo_messaging_rabbit', 'ssl_cert_file'),
        sslKeyFile: optStr('oslo_messaging_rabbit', 'ssl_key_file'),
        heartbeatTimeoutThreshold: int('oslo_messaging_rabbit', 'heartbeat_timeout_threshold'),
      },
    },
    reportIntervalMs: int('DEFAULT', 'report_interval') * 1000,
    agent: {
      stateDir: str('k2hdkc', 'state_dir'),
      mountPoint: str('k2hdkc', 'mount_point'),
      devicePath: str('k2hdkc', 'device_path'),
      httpHost: str('k2hdkc', 'http_host'),
      httpPort: int('k2hdkc', 'http_port'),
      logFile: optStr('k2hdkc', 'log_file'),
      logLevel: (optStr('k2hdkc', 'log_level') ?? (bool('DEFAULT', 'debug') ? 'debug' : 'info')) as AgentConfig['agent']['logLevel'],
      shutdownGraceMs: int('k2hdkc', 'shutdown_grace_seconds') * 1000,
      maxMessageBytes: int('k2hdkc', 'max_message_bytes'),
    },
    k2hdkc: {
      datastore: str('k2hdkc', 'datastore') as AgentConfig['k2hdkc']['datastore'],
      mode: str('k2hdkc', 'mode') as AgentConfig['k2hdkc']['mode'],
      clusterName: optStr('k2hdkc', 'cluster_name'),
      nodeName: optStr('k2hdkc', 'node_name'),
      extdataUrl: optStr('k2hdkc', 'extdata_url'),
      k2hr3ApiUrl: optStr('k2hdkc', 'k2hr3_api_url'),
      localAddress: optStr('k2hdkc', 'local_address'),
      iniPath: str('k2hdkc', 'ini_path'),
      iniTemplatePath: optStr('k2hdkc', 'ini_template_path') ?? shippedTemplatePath(),
      processManager: str('k2hdkc', 'process_manager') as AgentConfig['k2hdkc']['processManager'],
      chmpxPath: str('k2hdkc', 'chmpx_path'),
      k2hdkcPath: str('k2hdkc', 'k2hdkc_path'),
      runDir: str('k2hdkc', 'run_dir'),
      daemonLogDir: optStr('k2hdkc', 'daemon_log_dir'),
      manageVolume: bool('k2hdkc', 'manage_volume'),
      raiseMqueue: bool('k2hdkc', 'raise_mqueue'),
      ctlportHost: optStr('k2hdkc', 'ctlport_host'),
      prepareTimeoutMs: int('k2hdkc', 'prepare_timeout_seconds') * 1000,
      healthPollMs: int('k2hdkc', 'health_poll_ms'),
      k2hr3PollMs: (values['k2hdkc']?.['k2hr3_poll_ms'] as number | null) ?? int('k2hdkc', 'k2hr3_poll_seconds') * 1000,
      keystone: { authUrl: optStr('service_credentials', 'auth_url'), regionName: str('service_credentials', 'region_name') },
    },
    backup: {
      swiftUrl: optStr('DEFAULT', 'swift_url'),
      swiftServiceType: str('DEFAULT', 'swift_service_type'),
      swiftEndpointType: str('DEFAULT', 'swift_endpoint_type'),
      regionName: str('service_credentials', 'region_name'),
      defaultContainer: str('DEFAULT', 'backup_swift_container'),
      segmentSize: int('DEFAULT', 'backup_segment_max_size'),
      encryptionKey: optStr('DEFAULT', 'backup_aes_cbc_key'),
      k2hlinetoolPath: str('k2hdkc', 'k2hlinetool_path'),
      progressIntervalMs: int('k2hdkc', 'backup_progress_interval_seconds') * 1000,
    },
    k2hdkcRaw,
  };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
