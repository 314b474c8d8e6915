'use strict';
// Minimal CHMPX INI reader for the stand-ins, written from the spec (k2hr3-chmpx-k2hdkc.md §4),
// independent of src/: [GLOBAL] merged, [SVRNODE]/[SLVNODE] repeated, [K2HDKC], `#` comments,
// `KEY = VALUE` with a ` #` trailing comment, '...'/"..." quotes, ports defaulting to [GLOBAL].

function value(text) {
  let out = '';
  let quote = '';
  let space = false;
  for (const ch of text.trim()) {
    if (quote) {
      if (ch === quote) quote = '';
      else out += ch;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '#' && space) break;
    else {
      out += ch;
      space = /\s/.test(ch);
    }
  }
  if (quote) throw new Error(`could not extract string(${text.trim()})`);
  return out.trim();
}

/** Returns {global, servers, slaves, k2hdkc} or throws Error with chmpx-like wording. */
function readIni(text, file) {
  const global = {};
  const servers = [];
  const slaves = [];
  let k2hdkc;
  let current;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('[') && line.endsWith(']')) {
      const name = line.slice(1, -1);
      if (name === 'GLOBAL') current = global;
      else if (name === 'SVRNODE') servers.push((current = {}));
      else if (name === 'SLVNODE') slaves.push((current = {}));
      else if (name === 'K2HDKC') current = k2hdkc = k2hdkc || {};
      else current = {};
      continue;
    }
    if (!current) continue;
    const eq = line.indexOf('=');
    const key = value(eq < 0 ? line : line.slice(0, eq));
    current[key] = eq < 0 ? '' : value(line.slice(eq + 1));
  }
  for (const key of ['GROUP', 'FILEVERSION', 'DELIVERMODE']) {
    if (global[key] === undefined) {
      throw new Error(`LoadConfiguration(1451) : configuration file(${file}) does not have "${key}" in [GLOBAL] section.`);
    }
  }
  if (servers.length === 0) throw new Error(`LoadConfiguration : configuration file(${file}) does not have any [SVRNODE] section.`);
  if (slaves.length === 0) throw new Error(`LoadConfiguration : configuration file(${file}) does not have any [SLVNODE] section.`);
  const num = (v) => (v === undefined || !/^\d+$/.test(v) ? undefined : Number(v));
  const node = (n, isServer) => ({
    name: n.NAME,
    port: isServer ? num(n.PORT) ?? num(global.PORT) : undefined,
    ctlport: num(n.CTLPORT) ?? num(global.CTLPORT),
    cuk: n.CUK || '',
    seed: n.CUSTOM_ID_SEED || '',
  });
  return {
    global,
    servers: servers.map((n) => node(n, true)),
    slaves: slaves.map((n) => node(n, false)),
    k2hdkc,
  };
}

/**
 * Picks this process's own entry the way chmpx does (spec §4.5): ctlport from -ctlport or
 * SELFCTLPORT (else CTLPORT), CUK from -cuk or SELFCUK; regex names are skipped; with
 * `opts.isHostAddress`, only a NAME that is an address of this host is self (chmpx; lib/host.js).
 */
function findSelf(conf, opts) {
  const g = conf.global;
  const ctlport = opts.ctlport ?? (g.SELFCTLPORT ? Number(g.SELFCTLPORT) : g.CTLPORT ? Number(g.CTLPORT) : undefined);
  const cuk = opts.cuk ?? g.SELFCUK;
  const mode = (g.MODE || '').toLowerCase();
  const onHost = opts.isHostAddress || (() => true);
  const match = (n) => n.ctlport === ctlport && (cuk === undefined || n.cuk === cuk) && !/[[\]*]/.test(n.name || '') && onHost(n.name);
  const server = mode !== 'slave' ? conf.servers.find(match) : undefined;
  const slave = !server && mode !== 'server' ? conf.slaves.find(match) : undefined;
  if (server) return { mode: 'server', node: server };
  if (slave) return { mode: 'slave', node: slave };
  throw new Error(`self control port(${ctlport}) not found in server list`);
}

module.exports = { readIni, findSelf };
