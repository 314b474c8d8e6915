import { createServer, connect } from 'node:net';
import { K2hr3Double } from './server';

/**
 * Runs the K2HR3 API double as a process, for the development stack (docker-compose.yml's
 * `k2hr3` service). The double listens on 127.0.0.1 only, so a TCP relay makes it reachable on
 * K2HR3_DOUBLE_HOST:K2HR3_DOUBLE_PORT (default 0.0.0.0:18080). Through the relay every client's
 * source address is 127.0.0.1: hosts registered by source IP all get that address (pass
 * `host=` on PUT /v1/role to register another one).
 * K2HR3_DOUBLE_KEYSTONE: JSON `{"<keystone token>": {"user": "...", "projects": ["..."]}}`.
 */
async function main(): Promise<void> {
  const host = process.env['K2HR3_DOUBLE_HOST'] ?? '0.0.0.0';
  const port = Number(process.env['K2HR3_DOUBLE_PORT'] ?? '18080');
  const keystone = JSON.parse(process.env['K2HR3_DOUBLE_KEYSTONE'] ?? '{}') as Record<string, { user: string; projects: string[] }>;
  const double = new K2hr3Double({ keystone });
  const inner = new URL(await double.start());
  const relay = createServer((client) => {
    const upstream = connect(Number(inner.port), inner.hostname);
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  relay.listen(port, host, () => process.stdout.write(`k2hr3 double on http://${host}:${port} (relaying to ${inner.origin})\n`));
  const stop = (): void => {
    relay.close();
    void double.stop().finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`k2hr3 double: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
