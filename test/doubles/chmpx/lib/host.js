'use strict';
// How chmpx meets its host's network (k2hdkc-observed.md, "Network and identity"):
// - it listens on *:PORT and *:CTLPORT, IPv4 and IPv6, with no bind-address option, so two nodes
//   on one host cannot use the same ports (the second gets EADDRINUSE);
// - it takes a [SVRNODE]/[SLVNODE] NAME as itself only if that address is on one of the host's
//   interfaces (in a namespace with only lo: an extra /32 on lo).
const os = require('node:os');
const net = require('node:net');

const NAMES = { localhost: ['127.0.0.1', '::1'] };

/** Addresses on this host's interfaces (of the network namespace the process runs in). */
function interfaceAddresses() {
  return new Set(Object.values(os.networkInterfaces()).flat().map((a) => a.address));
}

/** True when `name` (an address, or `localhost`) is an address of one of the host's interfaces. */
function isHostAddress(name) {
  const local = interfaceAddresses();
  const candidates = net.isIP(name || '') ? [name] : NAMES[String(name).toLowerCase()] || [];
  return candidates.some((a) => local.has(a));
}

/** Listens on `port` on every address: IPv6 `::` (dual stack), or 0.0.0.0 where IPv6 is off. */
function listenAny(server, port, onListening) {
  const fallback = (err) => {
    if (err.code !== 'EAFNOSUPPORT' && err.code !== 'EADDRNOTAVAIL') return;
    server.removeListener('error', fallback);
    server.listen(port, '0.0.0.0', onListening);
  };
  server.on('error', fallback);
  server.listen({ port, host: '::', ipv6Only: false }, () => {
    server.removeListener('error', fallback);
    if (onListening) onListening();
  });
  return server;
}

module.exports = { isHostAddress, listenAny };
