'use strict';
// chmpx keeps ports in `short` (chmstructure.h): a port above 32767 wraps negative, listening
// fails with `Could not listen port(-25536).` and chmpx exits 1 (k2hdkc-observed.md, second run).

/** The value a C `short` holds after `short p = port`. */
function asShort(port) {
  return ((port + 0x8000) & 0xffff) - 0x8000;
}

/** The wrapped port when `port` does not fit a signed 16-bit value, else undefined. */
function wrappedPort(port) {
  if (typeof port !== 'number') return undefined;
  const short = asShort(port);
  return short === port ? undefined : short;
}

module.exports = { asShort, wrappedPort };
