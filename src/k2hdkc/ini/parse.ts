import { extractIniValue } from './extract';
import {
  SECTION,
  type ChmpxIni,
  type GlobalConfig,
  type IniEntry,
  type IniLine,
  type IniSection,
  type K2hdkcConfig,
  type NodeConfig,
  type NodeRole,
} from './model';

/**
 * Parses CHMPX/K2HDKC INI text (spec §4.1: `[SECTION]` headers, `KEY = VALUE`, `#` comments,
 * repeated [SVRNODE]/[SLVNODE]). Never throws: problems are recorded on the lines and reported
 * by checkInvariants(), so the caller can log every reason at once.
 */
export function parseIni(text: string): ChmpxIni {
  const preamble: IniLine[] = [];
  const sections: IniSection[] = [];
  let current: IniSection | undefined;
  text.split('\n').forEach((raw, i) => {
    const lineNo = i + 1;
    const line = raw.trim();
    if (line.startsWith('[') && line.endsWith(']') && line.length >= 2) {
      current = { name: line.slice(1, -1), header: raw, lineNo, lines: [] };
      sections.push(current);
      return;
    }
    (current ? current.lines : preamble).push(classify(raw, line, lineNo, current !== undefined));
  });
  return buildIni(preamble, sections);
}

function classify(raw: string, line: string, lineNo: number, inSection: boolean): IniLine {
  if (line === '') return { kind: 'blank', raw, lineNo };
  if (line.startsWith('#')) return { kind: 'comment', raw, lineNo };
  if (/^INCLUDE\s/.test(line) && !line.includes('=')) return { kind: 'include', raw, lineNo };
  if (!inSection) return { kind: 'text', raw, lineNo };
  const eq = line.indexOf('=');
  const keyText = eq < 0 ? line : line.slice(0, eq);
  const valueText = eq < 0 ? '' : line.slice(eq + 1);
  const key = extractIniValue(keyText);
  const value = extractIniValue(valueText);
  const entry: IniEntry = {
    kind: 'entry',
    key: key ?? keyText.trim(),
    value: value ?? valueText.trim(),
    raw,
    parsed: { key: key ?? keyText.trim(), value: value ?? valueText.trim() },
    lineNo,
    ...(key === undefined || value === undefined ? { problem: 'unbalanced quote or trailing backslash' } : {}),
  };
  return entry;
}

/** Builds the typed views over already split sections (also used after edits). */
export function buildIni(preamble: IniLine[], sections: IniSection[]): ChmpxIni {
  let globalValues: Record<string, string> | undefined;
  const servers: NodeConfig[] = [];
  const slaves: NodeConfig[] = [];
  let k2hdkc: K2hdkcConfig | undefined;
  for (const section of sections) {
    if (section.name === SECTION.GLOBAL) {
      // chmpx merges repeated [GLOBAL] sections key by key.
      globalValues = { ...(globalValues ?? {}), ...sectionValues(section) };
    }
  }
  const global = globalValues === undefined ? undefined : toGlobal(globalValues);
  for (const section of sections) {
    if (section.name === SECTION.SVRNODE) servers.push(toNode('server', servers.length + 1, section, global));
    else if (section.name === SECTION.SLVNODE) slaves.push(toNode('slave', slaves.length + 1, section, global));
    else if (section.name === SECTION.K2HDKC && k2hdkc === undefined) k2hdkc = toK2hdkc(section);
  }
  return { preamble, sections, global, servers, slaves, k2hdkc };
}

/** The section's keys and values; a repeated key keeps its last value, as chmpx does. */
export function sectionValues(section: IniSection): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of section.lines) if (line.kind === 'entry') values[line.key] = line.value;
  return values;
}

/** A decimal integer as chmpx would accept it, else undefined (chmpx's atoi would give 0). */
export function parseIniInt(value: string | undefined): number | undefined {
  if (value === undefined || !/^[+-]?\d+$/.test(value.trim())) return undefined;
  return Number.parseInt(value, 10);
}

/** ON/YES → true, OFF/NO → false (case-insensitive, spec §4.1); anything else undefined. */
export function parseIniBool(value: string | undefined): boolean | undefined {
  const v = value?.trim().toUpperCase();
  if (v === 'ON' || v === 'YES') return true;
  if (v === 'OFF' || v === 'NO') return false;
  return undefined;
}

function toGlobal(values: Record<string, string>): GlobalConfig {
  return {
    group: values.GROUP,
    fileVersion: values.FILEVERSION,
    mode: values.MODE,
    chmpxIdType: values.CHMPXIDTYPE,
    deliverMode: values.DELIVERMODE,
    port: parseIniInt(values.PORT),
    ctlport: parseIniInt(values.CTLPORT),
    selfCtlport: parseIniInt(values.SELFCTLPORT),
    selfCuk: values.SELFCUK,
    replica: parseIniInt(values.REPLICA),
    mqack: parseIniBool(values.MQACK),
    autoMerge: parseIniBool(values.AUTOMERGE),
    doMerge: parseIniBool(values.DOMERGE),
    values,
  };
}

function toNode(kind: NodeRole, ordinal: number, section: IniSection, global: GlobalConfig | undefined): NodeConfig {
  const values = sectionValues(section);
  return {
    kind,
    ordinal,
    name: values.NAME,
    // chmpx takes a node's missing PORT/CTLPORT from [GLOBAL] (spec §4.3); slaves have no PORT.
    port: kind === 'server' ? (parseIniInt(values.PORT) ?? (values.PORT === undefined ? global?.port : undefined)) : undefined,
    ctlport: parseIniInt(values.CTLPORT) ?? (values.CTLPORT === undefined ? global?.ctlport : undefined),
    cuk: values.CUK,
    customIdSeed: values.CUSTOM_ID_SEED,
    values,
    section,
  };
}

function toK2hdkc(section: IniSection): K2hdkcConfig {
  const values = sectionValues(section);
  return {
    k2hType: values.K2HTYPE,
    k2hFile: values.K2HFILE,
    k2hInit: parseIniBool(values.K2HINIT),
    values,
    section,
  };
}
