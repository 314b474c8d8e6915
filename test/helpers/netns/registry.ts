import { connect, type Socket } from 'node:net';

/**
 * Which node addresses of this process's networks live in a namespace, and how the test process
 * reaches them: the node relay's dial socket. A test connects to `address:port` the same way
 * whether the node runs in a namespace or on the host (connectTcp).
 */
const dialSockets = new Map<string, string>();

export function registerNode(address: string, dialSocket: string): void {
  dialSockets.set(address, dialSocket);
}

export function unregisterNode(address: string): void {
  dialSockets.delete(address);
}

/** True when `address` is a node in a namespace of this process. */
export function inNamespace(address: string): boolean {
  return dialSockets.has(address);
}

/**
 * A connected TCP socket to `host:port`: directly on the host, or through the node's relay when
 * `host` is a node in a namespace. Rejects like net.connect does (error with `code`, e.g.
 * ECONNREFUSED). With the relay, `remoteAddress` is undefined: the socket is a unix stream.
 * The socket comes back paused: attach listeners, then resume().
 */
export function connectTcp(host: string, port: number, timeoutMs = 5000): Promise<Socket> {
  const dialSocket = dialSockets.get(host);
  return new Promise((resolve, reject) => {
    const socket = dialSocket === undefined ? connect(port, host) : connect(dialSocket);
    const timer = setTimeout(() => socket.destroy(Object.assign(new Error(`connect ETIMEDOUT ${host}:${port}`), { code: 'ETIMEDOUT' })), timeoutMs);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      reject(error);
    };
    socket.once('error', fail);
    socket.once('connect', () => {
      if (dialSocket === undefined) {
        clearTimeout(timer);
        socket.off('error', fail);
        socket.pause();
        resolve(socket);
        return;
      }
      socket.write(`${host} ${port}\n`);
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk]);
        const nl = head.indexOf(0x0a);
        if (nl < 0) return;
        socket.off('data', onData);
        socket.pause();
        clearTimeout(timer);
        socket.off('error', fail);
        const status = head.subarray(0, nl).toString('utf8');
        if (status !== 'OK') {
          const code = status.replace(/^ERR /, '');
          socket.destroy();
          reject(Object.assign(new Error(`connect ${code} ${host}:${port}`), { code }));
          return;
        }
        const rest = head.subarray(nl + 1);
        if (rest.length > 0) socket.unshift(rest);
        resolve(socket);
      };
      socket.on('data', onData);
    });
    socket.once('close', () => fail(Object.assign(new Error(`connect ECONNRESET ${host}:${port}`), { code: 'ECONNRESET' })));
  });
}
