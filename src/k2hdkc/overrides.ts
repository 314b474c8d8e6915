import { promises as fs } from 'node:fs';
import { InvalidArgumentsError } from '../errors';
import { writeFileAtomic } from '../system/atomic-file';
import type { IniEntry, NodeRole } from './ini/model';
import { parseIni } from './ini/parse';
import { renderIni } from './ini/render';
import { CONFIGURATION_RULES, type ConfigurationRule } from './overrides-rules';

/**
 * The K2HDKC configuration parameters of datastore/validation-rules.json on the node side:
 * validation of Trove's overrides and config_contents, the persisted overrides, and where each
 * parameter acts (K2HR3 bootstrap at prepare, a key of the CHMPX/K2HDKC INI, or live).
 */
export type SettingValue = string | number | boolean;
export type Settings = Readonly<Record<string, SettingValue>>;

const RULES: ReadonlyMap<string, ConfigurationRule> = new Map(CONFIGURATION_RULES.map((rule) => [rule.name, rule]));

/** Extra checks of the string parameters (Trove's rules have no pattern field). */
const STRING_PATTERNS: Readonly<Record<string, { readonly pattern: RegExp; readonly what: string }>> = {
  // The same shape as [k2hdkc] cluster_name: it becomes a K2HR3 path and chmpx GROUP.
  'cluster-name': { pattern: /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, what: "letters, digits, '_', '.', '-' (at most 128)" },
  'extdata-url': { pattern: /^https?:\/\/[^\s]{1,4000}$/, what: 'an http(s) URL without spaces' },
};

/** Why a parameter has its limits, added to the message when a value is outside them. */
const LIMIT_REASONS: Readonly<Record<string, string>> = {
  'chmpx-server-port': 'chmpx keeps ports as signed 16-bit numbers and fails on higher ones',
  'chmpx-server-ctlport': 'chmpx keeps ports as signed 16-bit numbers and fails on higher ones',
  'chmpx-slave-ctlport': 'chmpx keeps ports as signed 16-bit numbers and fails on higher ones',
};

/** Parameters that are keys of the CHMPX/K2HDKC INI; applied to the INI K2HR3 serves (on restart). */
export const INI_KEYS: Readonly<Record<string, { readonly section: 'GLOBAL' | 'K2HDKC'; readonly key: string }>> = {
  'chmpx-sockthreadcnt': { section: 'GLOBAL', key: 'SOCKTHREADCNT' },
  'chmpx-mqthreadcnt': { section: 'GLOBAL', key: 'MQTHREADCNT' },
  'chmpx-maxsockpool': { section: 'GLOBAL', key: 'MAXSOCKPOOL' },
  'chmpx-sockpooltimeout': { section: 'GLOBAL', key: 'SOCKPOOLTIMEOUT' },
  'chmpx-rwtimeout': { section: 'GLOBAL', key: 'RWTIMEOUT' },
  'chmpx-retrycnt': { section: 'GLOBAL', key: 'RETRYCNT' },
  'chmpx-contimeout': { section: 'GLOBAL', key: 'CONTIMEOUT' },
  'chmpx-mqrwtimeout': { section: 'GLOBAL', key: 'MQRWTIMEOUT' },
  'chmpx-mqretrycnt': { section: 'GLOBAL', key: 'MQRETRYCNT' },
  'chmpx-mergetimeout': { section: 'GLOBAL', key: 'MERGETIMEOUT' },
  'k2hdkc-maxthread': { section: 'K2HDKC', key: 'MAXTHREAD' },
  'k2hdkc-minthread': { section: 'K2HDKC', key: 'MINTHREAD' },
  'k2hdkc-reducetime': { section: 'K2HDKC', key: 'REDUCETIME' },
  'k2hdkc-rcvtimeout': { section: 'K2HDKC', key: 'RCVTIMEOUT' },
};

/** True for the parameters validation-rules.json marks restart_required=false (applied live). */
export function isDynamic(name: string): boolean {
  return RULES.get(name)?.restart_required === false;
}

const TRUE_WORDS = new Set(['true', 'yes', 'on', '1']);
const FALSE_WORDS = new Set(['false', 'no', 'off', '0']);

/**
 * One value against its rule. Trove sends typed JSON for a configuration group, but the values
 * of its own template (apply_overrides on detach) arrive as the parser's strings: both accepted.
 */
function checkValue(rule: ConfigurationRule, raw: unknown): { value: SettingValue } | { problem: string } {
  const name = rule.name;
  switch (rule.type) {
    case 'boolean': {
      if (typeof raw === 'boolean') return { value: raw };
      const word = typeof raw === 'number' ? String(raw) : typeof raw === 'string' ? raw.trim().toLowerCase() : undefined;
      if (word !== undefined && TRUE_WORDS.has(word)) return { value: true };
      if (word !== undefined && FALSE_WORDS.has(word)) return { value: false };
      return { problem: `${name} must be a boolean (true or false)` };
    }
    case 'integer':
    case 'float': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw.trim()) : Number.NaN;
      if (!Number.isFinite(n) || (rule.type === 'integer' && !Number.isInteger(n))) return { problem: `${name} must be ${rule.type === 'integer' ? 'an integer' : 'a number'}` };
      const why = LIMIT_REASONS[name] === undefined ? '' : `: ${LIMIT_REASONS[name]}`;
      if (rule.min !== undefined && n < rule.min) return { problem: `${name} must be at least ${rule.min} (got ${n})${why}` };
      if (rule.max !== undefined && n > rule.max) return { problem: `${name} must be at most ${rule.max} (got ${n})${why}` };
      return { value: n };
    }
    case 'string': {
      if (typeof raw !== 'string') return { problem: `${name} must be a string` };
      const value = raw.trim();
      const extra = STRING_PATTERNS[name];
      // Empty means "not set": the agent's own option or default applies.
      if (value !== '' && extra !== undefined && !extra.pattern.test(value)) return { problem: `${name} must be ${extra.what}` };
      return { value };
    }
  }
}

/**
 * Validates a whole set against the rules; throws InvalidArgumentsError listing every problem
 * (unknown names included), so nothing of a bad set is kept or applied. Null values are dropped.
 */
export function validateSettings(input: Readonly<Record<string, unknown>>, source: string): Record<string, SettingValue> {
  const problems: string[] = [];
  const out: Record<string, SettingValue> = {};
  for (const [name, raw] of Object.entries(input)) {
    if (raw === null || raw === undefined) continue;
    const rule = RULES.get(name);
    if (rule === undefined) {
      problems.push(`${name} is not a K2HDKC configuration parameter`);
      continue;
    }
    const checked = checkValue(rule, raw);
    if ('problem' in checked) problems.push(checked.problem);
    else out[name] = checked.value;
  }
  const min = out['k2hdkc-minthread'];
  const max = out['k2hdkc-maxthread'];
  if (typeof min === 'number' && typeof max === 'number' && min > max) problems.push(`k2hdkc-minthread (${min}) must not exceed k2hdkc-maxthread (${max})`);
  if (problems.length > 0) throw new InvalidArgumentsError(`Invalid ${source}: ${problems.join('; ')}.`);
  return out;
}

/**
 * Reads the rendered config.template (`name = value` lines, `#`/`;` comments). Section headers
 * and names that are not parameters (an older template) are skipped and reported; a known name
 * with a bad value throws like validateSettings.
 */
export function parseConfigContents(text: string): { settings: Record<string, SettingValue>; ignored: string[] } {
  const raw: Record<string, string> = {};
  const ignored: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';') || /^\[.*\]$/.test(trimmed)) continue;
    const eq = trimmed.indexOf('=');
    const name = eq < 0 ? trimmed : trimmed.slice(0, eq).trim();
    if (eq < 0 || !RULES.has(name)) {
      ignored.push(name.slice(0, 64));
      continue;
    }
    raw[name] = trimmed.slice(eq + 1).trim();
  }
  return { settings: validateSettings(raw, 'config_contents'), ignored };
}

/** What K2HR3 bootstrap takes from the configuration (prepare only). */
export interface BootstrapSettings {
  readonly clusterName?: string;
  readonly extdataUrl?: string;
  readonly ports?: { readonly serverPort: number; readonly serverCtlport: number; readonly slaveCtlport: number };
}

/** The bootstrap part of a validated set; empty strings mean "not set". */
export function bootstrapSettings(settings: Settings, defaults: { serverPort: number; serverCtlport: number; slaveCtlport: number }): BootstrapSettings {
  const text = (name: string): string | undefined => {
    const value = settings[name];
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const port = (name: string, fallback: number): number => {
    const value = settings[name];
    return typeof value === 'number' ? value : fallback;
  };
  const names = ['chmpx-server-port', 'chmpx-server-ctlport', 'chmpx-slave-ctlport'];
  const clusterName = text('cluster-name');
  const extdataUrl = text('extdata-url');
  return {
    ...(clusterName === undefined ? {} : { clusterName }),
    ...(extdataUrl === undefined ? {} : { extdataUrl }),
    ...(names.some((n) => typeof settings[n] === 'number')
      ? {
          ports: {
            serverPort: port('chmpx-server-port', defaults.serverPort),
            serverCtlport: port('chmpx-server-ctlport', defaults.serverCtlport),
            slaveCtlport: port('chmpx-slave-ctlport', defaults.slaveCtlport),
          },
        }
      : {}),
  };
}

/**
 * The INI K2HR3 served with the INI-key parameters of `settings` set in [GLOBAL] / [K2HDKC]
 * (the last occurrence of a key, as chmpx reads it; appended when absent). [K2HDKC] is only
 * touched on servers that have it. Returns `text` itself when nothing changes, so an unchanged
 * file is never rewritten (a rename makes chmpx reload).
 */
export function overlayIni(text: string, settings: Settings, role: NodeRole): string {
  const wanted = Object.entries(INI_KEYS).filter(([name]) => settings[name] !== undefined);
  if (wanted.length === 0) return text;
  const ini = parseIni(text);
  let changed = false;
  for (const [name, target] of wanted) {
    if (target.section === 'K2HDKC' && role !== 'server') continue;
    const section = ini.sections.filter((s) => s.name === target.section).pop();
    if (section === undefined) continue;
    const value = String(settings[name]);
    const entries = section.lines.filter((l): l is IniEntry => l.kind === 'entry' && l.key.toUpperCase() === target.key);
    const last = entries.pop();
    if (last !== undefined) {
      if (last.value !== value) {
        last.value = value;
        changed = true;
      }
      continue;
    }
    // After the section's last non-blank line, so blank separators stay between sections.
    let at = section.lines.length;
    while (at > 0 && section.lines[at - 1]?.kind === 'blank') at -= 1;
    const raw = `${target.key} = ${value}`;
    section.lines.splice(at, 0, { kind: 'entry', key: target.key, value, raw, parsed: { key: target.key, value }, lineNo: 0 });
    changed = true;
  }
  return changed ? renderIni(ini) : text;
}

const STORE_MODE = 0o640;

/**
 * The overrides of the attached configuration group (update_overrides), kept as JSON beside the
 * agent's state: replaced whole on every update (Trove always sends the group's full set),
 * written by temp file + rename, re-validated when read.
 */
export class OverridesStore {
  constructor(readonly path: string) {}

  async load(): Promise<Settings> {
    let text: string;
    try {
      text = await fs.readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw error;
    }
    const value = JSON.parse(text) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidArgumentsError(`${this.path} does not hold an object of overrides`);
    return validateSettings(value as Record<string, unknown>, `overrides in ${this.path}`);
  }

  async save(settings: Settings): Promise<void> {
    await writeFileAtomic(this.path, `${JSON.stringify(settings)}\n`, STORE_MODE);
  }

  async clear(): Promise<void> {
    await fs.rm(this.path, { force: true });
  }
}
