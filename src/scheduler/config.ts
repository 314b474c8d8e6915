import { readFileSync } from 'node:fs';
import Ajv, { type JSONSchemaType } from 'ajv';
import { validate as validateCron } from 'node-cron';
import { parseIni, IniSyntaxError, type IniEntry } from '../config/ini';
import { ConfigError } from '../errors';
import { compileNameTemplate, type NameTemplate } from './ownership';

/**
 * The scheduler's configuration: one oslo.config style INI file, as every other OpenStack
 * service on the controller has (`/etc/k2hdkc-trove/scheduler.conf`). Schedules are sections
 * `[schedule:<name>]`, the way oslo services name repeated groups, because INI has no lists.
 */

export type EndpointInterface = 'public' | 'internal' | 'admin';

export interface KeystoneConfig {
  readonly authUrl: string;
  readonly applicationCredentialId: string;
  /** Never logged: the root logger censors `applicationCredentialSecret` and `secret`. */
  readonly applicationCredentialSecret: string;
  readonly regionName: string | undefined;
  readonly interface: EndpointInterface;
  /** Trove base URL including the project (`http://h:8779/v1.0/<project>`); skips the catalog. */
  readonly endpointOverride: string | undefined;
  readonly requestTimeoutMs: number;
}

export interface ScheduleConfig {
  readonly name: string;
  readonly instanceId: string;
  readonly cron: string;
  readonly nameTemplate: NameTemplate;
  readonly keepLast: number | undefined;
  readonly maxAgeMs: number | undefined;
  readonly swiftContainer: string | undefined;
}

export interface SchedulerConfig {
  readonly logLevel: string;
  /** `host:port` of the metrics endpoint, or undefined when metrics are off. */
  readonly metricsListen: { host: string; port: number } | undefined;
  /** How often a created backup is polled until it ends, and for how long at most. */
  readonly pollIntervalMs: number;
  readonly waitTimeoutMs: number;
  readonly keystone: KeystoneConfig;
  readonly schedules: readonly ScheduleConfig[];
}

/** The raw shape ajv checks: INI values are strings, numbers are parsed after validation. */
interface RawConfig {
  DEFAULT: { debug?: string; metrics_listen?: string; poll_interval?: string; wait_timeout?: string };
  keystone: {
    auth_url: string;
    application_credential_id: string;
    application_credential_secret: string;
    region_name?: string;
    interface?: string;
    endpoint_override?: string;
    timeout?: string;
  };
  schedules: Array<{
    name: string;
    instance_id: string;
    cron: string;
    name_template?: string;
    keep_last?: string;
    max_age?: string;
    swift_container?: string;
  }>;
}

const INT = '^[0-9]+$';
const DURATION = '^[0-9]+[smhdw]?$';
const opt = (pattern?: string) => ({ type: 'string', nullable: true, ...(pattern ? { pattern } : {}) }) as const;

const SCHEMA: JSONSchemaType<RawConfig> = {
  type: 'object',
  required: ['DEFAULT', 'keystone', 'schedules'],
  additionalProperties: false,
  properties: {
    DEFAULT: {
      type: 'object',
      additionalProperties: false,
      properties: {
        debug: opt('^(true|false|yes|no|1|0)$'),
        metrics_listen: opt('^$|^[0-9A-Za-z.:-]+:[0-9]{1,5}$'),
        poll_interval: opt(DURATION),
        wait_timeout: opt(DURATION),
      },
    },
    keystone: {
      type: 'object',
      additionalProperties: false,
      required: ['auth_url', 'application_credential_id', 'application_credential_secret'],
      properties: {
        auth_url: { type: 'string', pattern: '^https?://' },
        application_credential_id: { type: 'string', minLength: 1 },
        application_credential_secret: { type: 'string', minLength: 1 },
        region_name: opt(),
        interface: opt('^(public|internal|admin)$'),
        endpoint_override: opt('^https?://'),
        timeout: opt(DURATION),
      },
    },
    schedules: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'instance_id', 'cron'],
        properties: {
          name: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' },
          // Dashed, as Trove's create schema requires for `instance` (apischema.uuid).
          instance_id: { type: 'string', pattern: '^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$' },
          cron: { type: 'string', minLength: 1 },
          name_template: opt(),
          keep_last: opt(INT),
          max_age: opt(DURATION),
          swift_container: opt('^[A-Za-z0-9_.-]+$'),
        },
      },
    },
  },
};

const validateRaw = new Ajv({ allErrors: true }).compile(SCHEMA);

/** `90`, `90s`, `15m`, `12h`, `7d`, `2w` → milliseconds (a bare number is seconds, as in oslo). */
export function parseDuration(text: string): number {
  const unit = text.slice(-1);
  const scale: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
  const factor = scale[unit];
  return (factor === undefined ? Number(text) : Number(text.slice(0, -1)) * factor) * 1000;
}

/** Reads and checks the file; throws ConfigError naming the file, line, section and key. */
export function loadSchedulerConfig(file: string): SchedulerConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`${file}: cannot read the scheduler configuration`, { cause: error });
  }
  return parseSchedulerConfig(text, file);
}

/** Parses INI text (from `file`, for messages) into a frozen SchedulerConfig. */
export function parseSchedulerConfig(text: string, file: string): SchedulerConfig {
  let entries: IniEntry[];
  try {
    entries = parseIni(text, file);
  } catch (error) {
    if (error instanceof IniSyntaxError) throw new ConfigError(error.message, { cause: error });
    throw error;
  }
  const where = new Map<string, IniEntry>();
  const raw: { DEFAULT: Record<string, string>; keystone: Record<string, string>; schedules: Record<string, string>[] } = {
    DEFAULT: {},
    keystone: {},
    schedules: [],
  };
  const bySchedule = new Map<string, Record<string, string>>();
  for (const entry of entries) {
    let target: Record<string, string>;
    let path: string;
    if (entry.section.startsWith('schedule:')) {
      const name = entry.section.slice('schedule:'.length).trim();
      let s = bySchedule.get(name);
      if (s === undefined) {
        s = { name };
        bySchedule.set(name, s);
        raw.schedules.push(s);
      }
      target = s;
      path = `/schedules/${raw.schedules.indexOf(s)}/${entry.key}`;
    } else if (entry.section === 'DEFAULT' || entry.section === 'keystone') {
      target = raw[entry.section];
      path = `/${entry.section}/${entry.key}`;
    } else {
      throw new ConfigError(
        `${entry.file}:${entry.line}: unknown section [${entry.section}] (expected [DEFAULT], [keystone] or [schedule:<name>])`,
      );
    }
    target[entry.key] = entry.value;
    where.set(path, entry);
  }
  if (!validateRaw(raw)) {
    const problems = (validateRaw.errors ?? []).map((e) => {
      const missing = e.keyword === 'required' ? `/${String(e.params['missingProperty'])}` : '';
      const extra = e.keyword === 'additionalProperties' ? `/${String(e.params['additionalProperty'])}` : '';
      const path = `${e.instancePath}${missing}${extra}`;
      const at = where.get(path);
      const place = at ? `${at.file}:${at.line}: [${at.section}] ${at.key}` : `${file}: ${describePath(path, raw)}`;
      const what = e.keyword === 'additionalProperties' ? 'unknown key' : e.keyword === 'required' ? 'is required' : e.message;
      return `${place} ${what}`;
    });
    throw new ConfigError(`invalid scheduler configuration:\n  ${problems.join('\n  ')}`);
  }
  return Object.freeze(compile(raw, where, file));
}

/** Names a path the file lacks (a missing key) as `[section] key`. */
function describePath(path: string, raw: { schedules: Record<string, string>[] }): string {
  const parts = path.split('/').filter(Boolean);
  if (parts[0] === 'schedules' && parts[1] !== undefined) {
    const schedule = raw.schedules[Number(parts[1])];
    return `[schedule:${schedule?.['name'] ?? parts[1]}] ${parts[2] ?? ''}`.trim();
  }
  if (parts.length === 1) return `section [${parts[0]}]`;
  return `[${parts[0]}] ${parts.slice(1).join('.')}`;
}

function compile(raw: RawConfig, where: Map<string, IniEntry>, file: string): SchedulerConfig {
  const d = raw.DEFAULT;
  const k = raw.keystone;
  const listen = d.metrics_listen ? /^(.*):([0-9]+)$/.exec(d.metrics_listen) : null;
  const schedules = raw.schedules.map((s, index): ScheduleConfig => {
    const place = (key: string): string => {
      const at = where.get(`/schedules/${index}/${key}`);
      return at ? `${at.file}:${at.line}: [${at.section}] ${key}` : `${file}: [schedule:${s.name}] ${key}`;
    };
    if (!validateCron(s.cron)) throw new ConfigError(`${place('cron')} is not a valid cron expression: '${s.cron}'`);
    if (s.keep_last === undefined && s.max_age === undefined) {
      throw new ConfigError(`${file}: [schedule:${s.name}] needs keep_last and/or max_age (retention)`);
    }
    if (s.keep_last !== undefined && Number(s.keep_last) < 1) {
      throw new ConfigError(`${place('keep_last')} must be at least 1`);
    }
    let nameTemplate: NameTemplate;
    try {
      nameTemplate = compileNameTemplate(s.name_template, s.name, s.instance_id);
    } catch (error) {
      throw new ConfigError(`${place('name_template')} ${(error as Error).message}`);
    }
    return {
      name: s.name,
      instanceId: s.instance_id.toLowerCase(),
      cron: s.cron,
      nameTemplate,
      keepLast: s.keep_last === undefined ? undefined : Number(s.keep_last),
      maxAgeMs: s.max_age === undefined ? undefined : parseDuration(s.max_age),
      swiftContainer: s.swift_container || undefined,
    };
  });
  return {
    logLevel: d.debug !== undefined && /^(true|yes|1)$/.test(d.debug) ? 'debug' : 'info',
    metricsListen: listen?.[1] !== undefined && listen[2] !== undefined ? { host: listen[1], port: Number(listen[2]) } : undefined,
    pollIntervalMs: parseDuration(d.poll_interval ?? '30'),
    waitTimeoutMs: parseDuration(d.wait_timeout ?? '6h'),
    keystone: {
      authUrl: k.auth_url.replace(/\/+$/, ''),
      applicationCredentialId: k.application_credential_id,
      applicationCredentialSecret: k.application_credential_secret,
      regionName: k.region_name || undefined,
      interface: (k.interface ?? 'public') as EndpointInterface,
      endpointOverride: k.endpoint_override ? k.endpoint_override.replace(/\/+$/, '') : undefined,
      requestTimeoutMs: parseDuration(k.timeout ?? '60'),
    },
    schedules,
  };
}
