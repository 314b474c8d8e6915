import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { isIP } from 'node:net';

/**
 * The host side of the nodes' forwarded ports: a unix socket (reachable from every network
 * namespace, being a file) whose clients send `<port> <source address>\n` and then the bytes of
 * one TCP connection. It connects to 127.0.0.1:<port> of the host from that source address, so a
 * service sees the node's own address as the peer. Only ports the network forwards are allowed,
 * and only loopback sources (127.0.0.0/8): traffic stays on loopback.
 */
export class HostBridge {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  private constructor(readonly path: string, private readonly allowed: ReadonlySet<number>) {
    this.server = createServer((client) => this.accept(client));
  }

  static async start(path: string, allowed: ReadonlySet<number>): Promise<HostBridge> {
    rmSync(path, { force: true });
    const bridge = new HostBridge(path, allowed);
    bridge.server.listen(path);
    await once(bridge.server, 'listening');
    return bridge;
  }

  private accept(client: Socket): void {
    this.track(client);
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const nl = buf.indexOf(0x0a);
      if (nl < 0) {
        if (buf.length > 128) client.destroy();
        return;
      }
      client.off('data', onData);
      client.pause();
      const [portText, source] = buf.subarray(0, nl).toString('utf8').trim().split(' ');
      const port = Number(portText);
      if (!this.allowed.has(port) || source === undefined || isIP(source) !== 4 || !source.startsWith('127.')) {
        client.destroy();
        return;
      }
      const upstream = this.track(connect({ port, host: '127.0.0.1', localAddress: source }));
      const rest = buf.subarray(nl + 1);
      upstream.once('connect', () => {
        if (rest.length > 0) upstream.write(rest);
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      upstream.on('close', () => client.end());
      client.on('close', () => upstream.end());
    };
    client.on('data', onData);
    client.on('error', () => undefined);
  }

  private track(socket: Socket): Socket {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    return socket;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.path, { force: true });
  }
}
