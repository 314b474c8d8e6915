import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { authFromEnv, openSession, OpenstackAuthError } from '../../../src/keystone/session';

const OPENRC = { OS_AUTH_URL: 'http://k:5000/v3', OS_USERNAME: 'demo', OS_PASSWORD: 'pw-secret', OS_PROJECT_NAME: 'demo' };

describe('openrc variables → Keystone v3 auth', () => {
  it('always names the user and project domains (troveclient 8\'s Mistral client does not, and Keystone v3 answers 400)', () => {
    const auth = authFromEnv(OPENRC);
    expect(auth.identity).toEqual({ kind: 'password', user: { name: 'demo', domain: { id: 'default' } }, password: 'pw-secret', project: { name: 'demo', domain: { id: 'default' } } });
    const named = authFromEnv({ ...OPENRC, OS_USER_DOMAIN_NAME: 'Users', OS_PROJECT_DOMAIN_NAME: 'Projects' });
    expect(named.identity).toMatchObject({ user: { name: 'demo', domain: { name: 'Users' } }, project: { name: 'demo', domain: { name: 'Projects' } } });
    expect(authFromEnv({ ...OPENRC, OS_PROJECT_ID: 'p1' }).identity).toMatchObject({ project: { id: 'p1' } });
  });

  it('prefers an application credential, and names what is missing', () => {
    expect(authFromEnv({ OS_AUTH_URL: 'http://k:5000', OS_APPLICATION_CREDENTIAL_ID: 'ac', OS_APPLICATION_CREDENTIAL_SECRET: 's' }).identity.kind).toBe('application_credential');
    expect(() => authFromEnv({})).toThrow(/OS_AUTH_URL is not set/);
    expect(() => authFromEnv({ ...OPENRC, OS_PASSWORD: '' })).toThrow(/OS_PASSWORD is not set/);
    expect(() => authFromEnv({ ...OPENRC, OS_PROJECT_NAME: undefined })).toThrow(/OS_PROJECT_NAME/);
    expect(() => authFromEnv({ ...OPENRC, OS_INTERFACE: 'private' })).toThrow(OpenstackAuthError);
    // The password is never part of a message.
    try {
      authFromEnv({ ...OPENRC, OS_AUTH_URL: 'not a url' });
    } catch (error) {
      expect((error as Error).message).not.toContain('pw-secret');
    }
  });
});

describe('openSession', () => {
  let server: Server | undefined;
  afterEach(() => {
    server?.close();
    server = undefined;
  });

  /** Answers POST /v3/auth/tokens as `reply` says, keeping the bodies it was sent. */
  async function keystone(reply: (body: unknown) => { status: number; token?: string; body: unknown }): Promise<{ url: string; sent: unknown[] }> {
    const sent: unknown[] = [];
    server = createServer((req, res) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => {
        const body: unknown = JSON.parse(text);
        sent.push(body);
        const r = reply(body);
        res.writeHead(r.status, { 'Content-Type': 'application/json', ...(r.token ? { 'X-Subject-Token': r.token } : {}) }).end(JSON.stringify(r.body));
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/identity`, sent };
  }

  const catalog = [
    { type: 'database', endpoints: [
      { interface: 'public', region_id: 'RegionTwo', region: 'RegionTwo', url: 'http://trove2:8779/v1.0/' },
      { interface: 'internal', region_id: 'RegionOne', region: 'RegionOne', url: 'http://trove-int:8779/v1.0' },
      { interface: 'public', region_id: 'RegionOne', region: 'RegionOne', url: 'http://trove1:8779/v1.0/' },
    ] },
  ];
  const token = { token: { expires_at: '2026-12-06T12:00:00Z', project: { id: 'p1', name: 'demo' }, catalog } };

  it('sends the domains, and finds endpoints by interface and region (any region when none is set)', async () => {
    const k = await keystone(() => ({ status: 201, token: 'tok-123', body: token }));
    const session = await openSession(authFromEnv({ ...OPENRC, OS_AUTH_URL: k.url, OS_REGION_NAME: 'RegionOne' }));
    expect(k.sent[0]).toEqual({
      auth: {
        identity: { methods: ['password'], password: { user: { name: 'demo', domain: { id: 'default' }, password: 'pw-secret' } } },
        scope: { project: { name: 'demo', domain: { id: 'default' } } },
      },
    });
    expect(session).toMatchObject({ token: 'tok-123', project: { id: 'p1', name: 'demo' }, expiresAt: '2026-12-06T12:00:00Z' });
    expect(session.findEndpoint('database')).toBe('http://trove1:8779/v1.0');
    expect(session.findEndpoint('workflowv2')).toBeNull();
    const anyRegion = await openSession(authFromEnv({ ...OPENRC, OS_AUTH_URL: k.url }));
    expect(anyRegion.findEndpoint('database')).toBe('http://trove2:8779/v1.0');
    expect(anyRegion.secrets).toEqual(['tok-123', 'pw-secret']);
  });

  it('says who was refused and why, never the secret; an unscoped token is refused too', async () => {
    const k = await keystone((body) => (JSON.stringify(body).includes('application_credential')
      ? { status: 401, body: { error: { message: 'The request you have made requires authentication.' } } }
      : { status: 201, token: 'tok', body: { token: { expires_at: '2026-12-06T12:00:00Z' } } }));
    const refused = await openSession({ authUrl: k.url, identity: { kind: 'application_credential', credential: { id: 'ac1' }, secret: 's3cret-value' }, regionName: undefined, interface: 'public' }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ reason: 'refused', status: 401 });
    expect((refused as Error).message).toBe(`Keystone at ${k.url}/v3/auth/tokens refused application credential ac1 (401): check its id, secret and expiry`);
    const unscoped = await openSession(authFromEnv({ ...OPENRC, OS_AUTH_URL: k.url })).catch((e: unknown) => e);
    expect(unscoped).toBeInstanceOf(OpenstackAuthError);
    expect((unscoped as OpenstackAuthError).reason).toBe('unscoped');
    expect((unscoped as Error).message).toMatch(/user demo \(project demo\) a token not scoped to a project/);
    expect(JSON.stringify(k.sent)).toContain('s3cret-value');
    expect(String((refused as Error).message) + String((unscoped as Error).message)).not.toMatch(/s3cret-value|pw-secret/);
  });
});
