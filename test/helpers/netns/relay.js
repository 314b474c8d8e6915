#!/usr/bin/env node
'use strict';
// The per-node relay of test/helpers/netns, run inside the node's network (and IPC) namespace:
// - forwarded ports: listens on 127.0.0.1:<port> inside the namespace, so the control plane's
//   loopback URLs (RabbitMQ, K2HR3, Keystone, Swift) work unchanged on the node, and carries each
//   connection over the host's unix-socket bridge with a header naming the port and the client's
//   address (the node's own address when the client did not bind one), so the root side
//   connects from that address: the K2HR3 double sees the node's source IP, as a real K2HR3 does;
// - dial socket: the test process asks it for a TCP connection inside the namespace
//   (`<host> <port>\n` → `OK\n` then bytes, or `ERR <code>\n`), e.g. to a chmpx control port.
// Commands come over the IPC channel ({forward: port}); it exits when its parent goes away.
// Usage: relay.js <node address> <bridge socket> <dial socket>
const fs = require('node:fs');
const net = require('node:net');

const [address, bridgeSocket, dialSocket] = process.argv.slice(2);
if (!address || !bridgeSocket || !dialSocket || typeof process.send !== 'function') {
  process.stderr.write('usage: relay.js <node address> <bridge socket> <dial socket> (with an IPC channel)\n');
  process.exit(2);
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);
const plain = (ip) => (ip && ip.startsWith('::ffff:') ? ip.slice(7) : ip);

/** Pipes two sockets both ways; one side's end ends the other (after its data), an error destroys it. */
function splice(a, b) {
  a.pipe(b);
  b.pipe(a);
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
  a.on('close', () => b.end());
  b.on('close', () => a.end());
}

/** Reads one header line, then hands over the socket with whatever followed the line. */
function readHeader(socket, onHeader) {
  let buf = Buffer.alloc(0);
  const onData = (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    const nl = buf.indexOf(0x0a);
    if (nl < 0) {
      if (buf.length > 256) socket.destroy();
      return;
    }
    socket.off('data', onData);
    socket.pause();
    onHeader(buf.subarray(0, nl).toString('utf8').trim(), buf.subarray(nl + 1));
  };
  socket.on('data', onData);
  socket.on('error', () => undefined);
}

const forwarded = new Map();

function forward(port) {
  if (forwarded.has(port)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const server = net.createServer((client) => {
      const from = LOOPBACK.has(client.remoteAddress) ? address : plain(client.remoteAddress);
      client.pause();
      const up = net.connect(bridgeSocket, () => {
        up.write(`${port} ${from}\n`);
        splice(client, up);
        client.resume();
      });
      up.on('error', () => client.destroy());
      client.on('error', () => up.destroy());
    });
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      forwarded.set(port, server);
      resolve();
    });
  });
}

const dial = net.createServer((socket) => {
  readHeader(socket, (header, rest) => {
    const [host, portText] = header.split(' ');
    const port = Number(portText);
    if (!host || !Number.isInteger(port) || port < 1 || port > 65535) {
      socket.end('ERR EINVAL\n');
      return;
    }
    const target = net.connect(port, host);
    target.once('error', (err) => socket.end(`ERR ${err.code || 'EIO'}\n`));
    target.once('connect', () => {
      target.removeAllListeners('error');
      socket.write('OK\n');
      if (rest.length > 0) target.write(rest);
      splice(socket, target);
      socket.resume();
    });
  });
});
try {
  fs.rmSync(dialSocket, { force: true });
} catch {
  // nothing to remove
}
dial.listen(dialSocket, () => process.send({ ready: true, pid: process.pid }));

process.on('message', (msg) => {
  if (msg && Number.isInteger(msg.forward)) {
    forward(msg.forward).then(
      () => process.send({ forwarded: msg.forward }),
      (err) => process.send({ forwarded: msg.forward, error: `${err.code || ''} ${err.message}`.trim() }),
    );
  }
});
// The test process went away (or closed the channel): nothing else may keep this node alive.
process.on('disconnect', () => process.exit(0));
