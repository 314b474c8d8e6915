'use strict';
// Debug output as the AntPickax programs print it (chmpx lib/chmdbg.h): nothing by default
// (silent), `-d err|wan|msg|dump` or the CHMDBGMODE / DKCDBGMODE variable raise the level, and
// `-dfile` / CHMDBGFILE / DKCDBGFILE redirect it from stderr. Lines look like
// `[CHMPX-ERR] Func(line) : text`. The stand-ins' own diagnostics (which the real programs do
// not have) go nowhere unless CHMPX_DOUBLE_TRACE=1, so no test can come to depend on them.
const fs = require('node:fs');

const LEVELS = { SILENT: 0, ERR: 1, ERROR: 1, WAN: 2, WARN: 2, WARNING: 2, MSG: 3, INFO: 3, MESSAGE: 3, DUMP: 4 };
const NAMES = ['SLT', 'ERR', 'WAN', 'MSG', 'DMP'];

/** `prefix`: CHMPX or K2HDKC; `envPrefix`: CHM or DKC; `opts`: parsed -d / -dfile. */
function makeDebug(prefix, envPrefix, opts) {
  const mode = String(opts.d || process.env[`${envPrefix}DBGMODE`] || 'silent').toUpperCase();
  const level = LEVELS[mode] ?? 0;
  const file = opts.dfile || process.env[`${envPrefix}DBGFILE`];
  const write = (line) => {
    if (file) fs.appendFileSync(file, line);
    else process.stderr.write(line);
  };
  const print = (lvl, where, text) => {
    if (lvl <= level) write(`[${prefix}-${NAMES[lvl]}] ${where} : ${text}\n`);
  };
  return {
    err: (where, text) => print(1, where, text),
    wan: (where, text) => print(2, where, text),
    msg: (where, text) => print(3, where, text),
    /** Stand-in-only diagnostics: off unless CHMPX_DOUBLE_TRACE=1. */
    trace: (text) => {
      if (process.env.CHMPX_DOUBLE_TRACE === '1') write(`[standin ${prefix.toLowerCase()}[${process.pid}]] ${text}\n`);
    },
  };
}

module.exports = { makeDebug };
