'use strict';
// How a client (k2hdkclinetool, libk2hdkc) reaches the chmpx on its own node. The real client
// attaches to chmpx's shared memory `<dir>/<GROUP>-<CTLPORT>.chmpx` and exchanges messages over
// its POSIX message queues (k2hdkc-observed.md "Files"); the stand-ins use a unix socket in the
// abstract namespace instead, named after that file. Like the queues it is private to the node
// (abstract sockets belong to the network namespace) and leaves nothing behind on a crash.
// One JSON line each way, as lib/wire.js.
const net = require('node:net');
const path = require('node:path');
const { shmDir } = require('./shm');

/** The socket of the chmpx of `group` and `ctlport` (Linux abstract namespace). */
function mqName(group, ctlport) {
  return `\0k2hdkc-standin-mq:${path.join(shmDir(), `${group}-${ctlport}`)}`;
}

/** Serves client requests; `handler(msg)` returns (a promise of) the reply object. */
function serveClients(group, ctlport, handler, onError) {
  const server = net.createServer((socket) => {
    let buf = '';
    socket.on('error', () => undefined);
    socket.on('data', async (d) => {
      buf += d.toString('utf8');
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let reply;
        try {
          reply = await handler(JSON.parse(line));
        } catch (err) {
          reply = { error: err.message };
        }
        if (!socket.destroyed) socket.write(`${JSON.stringify(reply)}\n`);
      }
    });
  });
  server.on('error', onError);
  server.listen(mqName(group, ctlport));
  return server;
}

/** A client's link to its chmpx: request(msg) → reply object, or undefined when chmpx is gone. */
function connectClient(group, ctlport) {
  return new Promise((resolve) => {
    const socket = net.connect(mqName(group, ctlport));
    const waiting = [];
    let buf = '';
    const fail = () => {
      while (waiting.length > 0) waiting.shift()(undefined);
    };
    socket.on('error', () => {
      fail();
      resolve(undefined);
    });
    socket.on('close', fail);
    socket.on('data', (d) => {
      buf += d.toString('utf8');
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const next = waiting.shift();
        if (next) {
          try {
            next(JSON.parse(line));
          } catch {
            next(undefined);
          }
        }
      }
    });
    socket.on('connect', () =>
      resolve({
        request: (msg) =>
          new Promise((done) => {
            if (socket.destroyed) return done(undefined);
            waiting.push(done);
            socket.write(`${JSON.stringify(msg)}\n`);
          }),
        close: () => socket.end(),
      }),
    );
  });
}

module.exports = { serveClients, connectClient };
