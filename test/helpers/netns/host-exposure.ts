import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { connectTcp } from './registry';

/** True when a socket in the network namespace of `pid` listens on TCP `port` (any address, v4 or v6). */
function listensIn(pid: number, port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['tcp', 'tcp6']) {
    let text = '';
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      return false;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === '0A' && f[1]?.endsWith(`:${hex}`)) return true;
    }
  }
  return false;
}

/**
 * A node's ports on the host, for code under test that runs in the test process itself (an
 * in-process manager and its ctlport client): `address:port` on the host leads to the same port
 * inside the node (through its relay). The host side listens only while something inside the
 * node listens on that port (checked every 50 ms), so a stopped daemon's port soon refuses
 * connections on the host too; a connection that slips in meanwhile is reset.
 */
export class HostExposure {
  private readonly listeners = new Set<Server>();
  private readonly timers: NodeJS.Timeout[] = [];

  /** `namespacePid`: any process in the node's network namespace (its relay). */
  constructor(private readonly address: string, private readonly namespacePid: number) {}

  async expose(ports: readonly number[]): Promise<void> {
    for (const port of ports) {
      let server: Server | null = null;
      const sync = async (): Promise<void> => {
        const listening = listensIn(this.namespacePid, port);
        if (listening && server === null) {
          const opened = this.listener(port);
          server = opened;
          this.listeners.add(opened);
          // Only the node's own address on the host: other runs' addresses and ports stay free.
          opened.listen(port, this.address);
          await once(opened, 'listening').catch(() => undefined);
        } else if (!listening && server !== null) {
          const closing = server;
          server = null;
          this.listeners.delete(closing);
          closing.close();
        }
      };
      await sync();
      let busy = false;
      const timer = setInterval(() => {
        if (busy) return;
        busy = true;
        void sync().finally(() => (busy = false));
      }, 50);
      timer.unref();
      this.timers.push(timer);
    }
  }

  close(): void {
    for (const timer of this.timers) clearInterval(timer);
    for (const server of this.listeners) server.close();
    this.listeners.clear();
  }

  private listener(port: number): Server {
    return createServer((client) => {
      client.pause();
      client.on('error', () => undefined);
      connectTcp(this.address, port).then((target) => {
        client.pipe(target);
        target.pipe(client);
        target.on('error', () => client.destroy());
        target.on('close', () => client.end());
        client.on('close', () => target.end());
        client.resume();
        target.resume();
      }, () => client.resetAndDestroy());
    });
  }
}
