import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';

/**
 * The one Keystone v3 call a controller service of ours makes: application-credential
 * authentication (POST /v3/auth/tokens), answered with a project-scoped token and a catalog
 * whose `database` endpoint is the e2e trove-api. The token handed out is the one the fake
 * keystone filter of trove-api maps to the project (and that Swift accepts), so the backup the
 * scheduler requests is stored with the project's own token, as with a real Keystone.
 */
export class KeystoneV3 {
  private server: Server | null = null;
  requests = 0;

  constructor(private readonly o: {
    readonly credentialId: string;
    readonly credentialSecret: string;
    readonly token: string;
    readonly projectId: string;
    readonly troveUrl: string;
  }) {}

  async start(): Promise<string> {
    const server = createServer((req, res) => {
      void this.handle(req).then(({ status, headers, body }) => {
        res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
        res.end(JSON.stringify(body));
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    this.server = server;
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('no address');
    return `http://127.0.0.1:${addr.port}/v3`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server === null) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage): Promise<{ status: number; headers: Record<string, string>; body: unknown }> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.method !== 'POST' || req.url !== '/v3/auth/tokens') {
      return { status: 404, headers: {}, body: { error: { code: 404, message: 'not found', title: 'Not Found' } } };
    }
    this.requests += 1;
    let cred: { id?: unknown; secret?: unknown } | undefined;
    try {
      const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        auth?: { identity?: { methods?: unknown; application_credential?: { id?: unknown; secret?: unknown } } };
      };
      cred = parsed.auth?.identity?.application_credential;
    } catch {
      cred = undefined;
    }
    if (cred?.id !== this.o.credentialId || cred.secret !== this.o.credentialSecret) {
      return { status: 401, headers: {}, body: { error: { code: 401, message: 'The request you have made requires authentication.', title: 'Unauthorized' } } };
    }
    const now = new Date();
    const expires = new Date(now.getTime() + 3_600_000);
    return {
      status: 201,
      headers: { 'X-Subject-Token': this.o.token },
      body: {
        token: {
          methods: ['application_credential'],
          issued_at: now.toISOString(),
          expires_at: expires.toISOString(),
          user: { id: 'scheduler', name: 'scheduler', domain: { id: 'default', name: 'Default' } },
          project: { id: this.o.projectId, name: this.o.projectId, domain: { id: 'default', name: 'Default' } },
          roles: [{ id: 'member', name: 'member' }],
          catalog: [{
            id: 'trove', type: 'database', name: 'trove',
            endpoints: ['public', 'internal'].map((iface) => ({
              id: `trove-${iface}`, interface: iface, region_id: 'RegionOne', region: 'RegionOne', url: this.o.troveUrl,
            })),
          }],
        },
      },
    };
  }
}
