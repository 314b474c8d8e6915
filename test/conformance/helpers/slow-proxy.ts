import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP relay in front of a real server (Swift) whose upload direction can be slowed down, so a
 * backup of a few MiB stays in flight long enough to act on it (a second cast, a SIGTERM).
 * Answers pass unthrottled; nothing is changed or answered by the relay itself.
 */
export class SlowProxy {
  /** Bytes per second client → server; null = unthrottled. */
  rate: number | null = null;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly target: { host: string; port: number }) {
    this.server = createServer((client) => this.relay(client));
  }

  /** Listens on 127.0.0.1 (a free port); returns that port. */
  async start(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('relay has no TCP address');
    return address.port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private relay(client: Socket): void {
    const upstream = createConnection(this.target);
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        this.sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    upstream.pipe(client);
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      if (this.rate === null) return;
      // Take no more from the client until this chunk's share of the rate has passed.
      client.pause();
      setTimeout(() => client.resume(), (chunk.length / this.rate) * 1000);
    });
    client.on('end', () => upstream.end());
  }
}
