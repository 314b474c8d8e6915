'use strict';
// The stand-ins' private chmpx-to-chmpx (and k2hdkc-to-chmpx) protocol on the data PORT: one
// JSON line each way. The real programs use their own binary protocol and SHM/MQ; only the
// visible behaviour (control-port replies, status transitions) has to match the spec.
const net = require('node:net');

function request(host, port, message, timeoutMs = 500) {
  return new Promise((resolve) => {
    const socket = net.connect(port, host);
    let buf = '';
    const done = (v) => {
      socket.destroy();
      clearTimeout(timer);
      resolve(v);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.on('connect', () => socket.write(`${JSON.stringify(message)}\n`));
    socket.on('data', (d) => {
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        try {
          done(JSON.parse(buf.slice(0, nl)));
        } catch {
          done(undefined);
        }
      }
    });
    socket.on('error', () => done(undefined));
    socket.on('close', () => done(undefined));
  });
}

/** Whether a TCP connection to host:port opens within `timeoutMs` (what a slave chmpx's connect to a server is). */
function connects(host, port, timeoutMs = 2000) {
  return new Promise((resolve) => {
    const socket = net.connect(port, host);
    const done = (v) => {
      socket.destroy();
      clearTimeout(timer);
      resolve(v);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('connect', () => done(true));
    socket.on('error', () => done(false));
  });
}

/** Serves JSON-line requests; `handler(msg, socket)` returns a reply object or undefined to keep the socket. */
function serve(host, port, handler) {
  const server = net.createServer((socket) => {
    let buf = '';
    socket.on('error', () => undefined);
    socket.on('data', async (d) => {
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      let msg;
      try {
        msg = JSON.parse(buf.slice(0, nl));
      } catch {
        socket.destroy();
        return;
      }
      buf = '';
      const reply = await handler(msg, socket);
      if (reply !== undefined) socket.end(`${JSON.stringify(reply)}\n`);
    });
  });
  return server.listen(port, host);
}

module.exports = { request, connects, serve };
