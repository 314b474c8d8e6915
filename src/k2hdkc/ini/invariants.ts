import { parseIniInt } from './parse';
import { SECTION, type ChmpxIni, type NodeConfig, type NodeRole } from './model';

/** The literal K2HR3 leaves for each guest to fill in (spec §2, §8.1). */
export const SELF_INSTANCE_ID_PLACEHOLDER = '__SELF_INSTANCE_ID__';

const CHMPXID_TYPES = ['NAME', 'CUK', 'CTLENDPOINTS', 'CUSTOM'];

/**
 * Checks what chmpx/k2hdkc need to start and keep running with this INI (spec §8.10, §4.2-4.5,
 * k2hdkc-observed.md "rewriting an INI in place kills chmpx"): required [GLOBAL] keys,
 * at least one [SVRNODE] and one [SLVNODE], valid ports, MQACK off, node ids, the node's own
 * entry, and [K2HDKC] on servers. Returns one readable reason per problem; empty means valid.
 */
export function checkInvariants(ini: ChmpxIni, role: NodeRole): string[] {
  const reasons: string[] = [];
  checkLines(ini, reasons);
  const g = ini.global;
  if (g === undefined) {
    reasons.push('[GLOBAL] section is missing');
    return reasons;
  }
  for (const key of ['GROUP', 'FILEVERSION', 'DELIVERMODE'] as const) {
    if (!g.values[key]) reasons.push(`[GLOBAL] ${key} is missing (chmpx refuses to load without it)`);
  }
  if (g.fileVersion && parseIniInt(g.fileVersion) === undefined) {
    reasons.push(`[GLOBAL] FILEVERSION '${g.fileVersion}' is not an integer`);
  }
  if (g.deliverMode && !['hash', 'random'].includes(g.deliverMode.toLowerCase())) {
    reasons.push(`[GLOBAL] DELIVERMODE '${g.deliverMode}' is neither hash nor random`);
  }
  if (g.mode !== undefined) {
    const mode = g.mode.toLowerCase();
    if (mode !== 'server' && mode !== 'slave') reasons.push(`[GLOBAL] MODE '${g.mode}' is neither SERVER nor SLAVE`);
    else if (mode !== role) reasons.push(`[GLOBAL] MODE is ${g.mode} but this node is a ${role}`);
  }
  const idType = (g.chmpxIdType ?? 'NAME').toUpperCase();
  if (!CHMPXID_TYPES.includes(idType)) reasons.push(`[GLOBAL] CHMPXIDTYPE '${g.chmpxIdType ?? ''}' is unknown`);
  if (g.mqack !== false) {
    reasons.push(`[GLOBAL] MQACK must be 'no' (chmpx defaults to on, which k2hdkc cannot use); found '${g.values.MQACK ?? 'unset'}'`);
  }
  for (const key of ['PORT', 'CTLPORT', 'SELFCTLPORT'] as const) checkPort(`[GLOBAL] ${key}`, g.values[key], reasons);
  if (g.selfCuk?.includes(SELF_INSTANCE_ID_PLACEHOLDER)) {
    reasons.push(`[GLOBAL] SELFCUK still contains ${SELF_INSTANCE_ID_PLACEHOLDER}; substitute the instance id first`);
  }

  if (ini.servers.length === 0) reasons.push('no [SVRNODE] section: chmpx needs at least one server');
  if (ini.slaves.length === 0) reasons.push('no [SLVNODE] section: chmpx will not start without a slave definition');
  ini.servers.forEach((n) => checkNode(n, idType, reasons));
  ini.slaves.forEach((n) => checkNode(n, idType, reasons));
  checkDuplicates(ini.servers, idType, reasons);
  checkSelf(ini, role, reasons);

  if (role === 'server') checkK2hdkc(ini, reasons);
  return reasons;
}

function checkLines(ini: ChmpxIni, reasons: string[]): void {
  for (const line of ini.preamble) {
    if (line.kind === 'text') reasons.push(`line ${line.lineNo}: '${line.raw.trim()}' is outside any section`);
  }
  for (const section of ini.sections) {
    const seen = new Set<string>();
    for (const line of section.lines) {
      if (line.kind === 'include') {
        reasons.push(`line ${line.lineNo}: INCLUDE is not allowed; the agent validates one self-contained file`);
      } else if (line.kind === 'entry') {
        if (line.problem) reasons.push(`line ${line.lineNo}: cannot read '${line.raw.trim()}': ${line.problem}`);
        else if (line.key === '') reasons.push(`line ${line.lineNo}: '${line.raw.trim()}' has no key`);
        if (seen.has(line.key) && isKnownSection(section.name)) {
          reasons.push(`line ${line.lineNo}: [${section.name}] sets ${line.key} twice`);
        }
        seen.add(line.key);
      }
    }
  }
}

function isKnownSection(name: string): boolean {
  return (Object.values(SECTION) as string[]).includes(name);
}

function label(n: NodeConfig): string {
  return `[${n.kind === 'server' ? SECTION.SVRNODE : SECTION.SLVNODE}] #${n.ordinal}${n.name ? ` (${n.name})` : ''}`;
}

/** chmpx keeps ports in a C `short`: above this it listens on a negative port and exits (k2hdkc-observed.md). */
export const CHMPX_MAX_PORT = 32767;

function checkPort(what: string, raw: string | undefined, reasons: string[]): void {
  if (raw === undefined) return;
  const port = parseIniInt(raw);
  if (port === undefined || port < 1 || port > 65535) reasons.push(`${what} '${raw}' is not a port number (1-${CHMPX_MAX_PORT})`);
  else if (port > CHMPX_MAX_PORT) reasons.push(`${what} ${port} is above ${CHMPX_MAX_PORT}: chmpx keeps ports as signed 16-bit numbers and cannot listen on it`);
}

function checkNode(n: NodeConfig, idType: string, reasons: string[]): void {
  const where = label(n);
  if (!n.name) reasons.push(`${where} has no NAME`);
  if (n.kind === 'server') {
    checkPort(`${where} PORT`, n.values.PORT, reasons);
    if (n.values.PORT === undefined && n.port === undefined) reasons.push(`${where} has no PORT and [GLOBAL] has none`);
  } else if (n.values.PORT !== undefined) {
    reasons.push(`${where} sets PORT, which only [SVRNODE] has`);
  }
  checkPort(`${where} CTLPORT`, n.values.CTLPORT, reasons);
  if (n.values.CTLPORT === undefined && n.ctlport === undefined) reasons.push(`${where} has no CTLPORT and [GLOBAL] has none`);
  if (n.kind === 'server' && n.port !== undefined && n.port === n.ctlport) {
    reasons.push(`${where} uses ${n.port} as both PORT and CTLPORT`);
  }
  if (n.kind === 'server' && idType === 'CUSTOM' && !n.customIdSeed) {
    reasons.push(`${where} has no CUSTOM_ID_SEED, required with CHMPXIDTYPE=CUSTOM`);
  }
  if (idType === 'CUK' && !n.cuk) reasons.push(`${where} has no CUK, required with CHMPXIDTYPE=CUK`);
}

/** Two entries for one chmpx (same address and ports, or the same node id) make the ring ambiguous. */
function checkDuplicates(servers: readonly NodeConfig[], idType: string, reasons: string[]): void {
  const byEndpoint = new Map<string, NodeConfig>();
  const bySeed = new Map<string, NodeConfig>();
  for (const n of servers) {
    const endpoint = `${n.name ?? ''}:${n.port ?? ''}:${n.ctlport ?? ''}`;
    const first = byEndpoint.get(endpoint);
    if (first) reasons.push(`${label(n)} duplicates ${label(first)} (same NAME, PORT and CTLPORT)`);
    else byEndpoint.set(endpoint, n);
    const id = idType === 'CUSTOM' ? n.customIdSeed : idType === 'CUK' ? n.cuk : undefined;
    if (id) {
      const other = bySeed.get(id);
      if (other) reasons.push(`${label(n)} has the same ${idType === 'CUK' ? 'CUK' : 'CUSTOM_ID_SEED'} '${id}' as ${label(other)}`);
      else bySeed.set(id, n);
    }
  }
}

/**
 * chmpx picks "self" by SELFCTLPORT (else CTLPORT) and SELFCUK (spec §4.5); a file without
 * that entry makes a running chmpx exit (k2hdkc-observed.md), so it must never be written.
 */
function checkSelf(ini: ChmpxIni, role: NodeRole, reasons: string[]): void {
  const g = ini.global;
  if (g === undefined) return;
  const ctlport = g.selfCtlport ?? g.ctlport;
  const cuk = g.selfCuk;
  if (ctlport === undefined && cuk === undefined) return; // chmpx gets -ctlport/-cuk on its command line
  const list = role === 'server' ? ini.servers : ini.slaves;
  const mine = list.filter((n) => (ctlport === undefined || n.ctlport === ctlport) && (cuk === undefined || n.cuk === cuk));
  if (mine.length === 0) {
    const what = [ctlport !== undefined ? `CTLPORT ${ctlport}` : '', cuk !== undefined ? `CUK '${cuk}'` : '']
      .filter(Boolean)
      .join(' and ');
    reasons.push(`no [${role === 'server' ? SECTION.SVRNODE : SECTION.SLVNODE}] with ${what}: this node's own entry is missing`);
  }
}

function checkK2hdkc(ini: ChmpxIni, reasons: string[]): void {
  const k = ini.k2hdkc;
  if (k === undefined) {
    reasons.push('[K2HDKC] section is missing (a server runs k2hdkc)');
    return;
  }
  const type = (k.k2hType ?? 'file').toUpperCase();
  if (type !== 'F' && type !== 'FILE') {
    reasons.push(`[K2HDKC] K2HTYPE '${k.k2hType ?? ''}' is not file: data would not survive a restart`);
  }
  if (!k.k2hFile) reasons.push('[K2HDKC] K2HFILE is missing');
  else if (!k.k2hFile.startsWith('/')) reasons.push(`[K2HDKC] K2HFILE '${k.k2hFile}' is not an absolute path`);
}
