import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeystoneError } from '../../../src/errors';
import { identityUrl, lookupTokenProject, type TokenProjectOptions } from '../../../src/keystone/token-project';
import { createLogger } from '../../../src/log';
import { KeystoneDouble } from '../../doubles/keystone';
import { KEYSTONE_PROJECT, KEYSTONE_TOKEN, KEYSTONE_TOKENS, KEYSTONE_USER } from '../k2hr3/helpers';

// The project name of a user token, asked of Keystone v3 (GET /v3/auth/tokens, the token
// validating itself), as self-provisioning does behind Trove, whose context has no project name.

const keystone = new KeystoneDouble({ tokens: KEYSTONE_TOKENS });
const BOB = 'gAAAAABbobTOKEN000000000000000000000000000000000000';
const DOMAIN_SCOPED = 'gAAAAABdomainSCOPEDtoken0000000000000000000000000000';
let base = '';

const options = (over: Partial<TokenProjectOptions> = {}): TokenProjectOptions => ({
  serviceCatalog: keystone.serviceCatalogV2(),
  authUrl: null,
  region: 'RegionOne',
  expectedProjectId: KEYSTONE_PROJECT.id,
  ...over,
});

async function failure(promise: Promise<unknown>): Promise<KeystoneError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(KeystoneError);
  return error as KeystoneError;
}

/** A server answering every request with `send`; for bodies the double never sends. */
async function rogue(send: (res: import('node:http').ServerResponse) => void): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => send(res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

beforeAll(async () => {
  base = await keystone.start();
  keystone.addToken(BOB, { user: { id: 'b0b', name: 'bob' }, project: { id: 'p-bob', name: 'bobs' } });
  keystone.addToken(DOMAIN_SCOPED, { user: KEYSTONE_USER });
});
afterAll(async () => {
  await keystone.stop();
});

describe('the project of a user token, from Keystone', () => {
  it('finds the identity endpoint in the context catalog (v2 form) and returns the project name, the token validating itself', async () => {
    const before = keystone.seen.length;
    const project = await lookupTokenProject(KEYSTONE_TOKEN, options());
    expect(project).toEqual({ id: KEYSTONE_PROJECT.id, name: 'demo', domain: { id: 'default', name: 'Default' } });
    expect(keystone.seen.slice(before)).toEqual([{ method: 'GET', path: '/v3/auth/tokens', query: 'nocatalog=', authToken: true, subjectToken: true }]);
  });

  it('accepts a v3 catalog and skips endpoints of other regions or interfaces', () => {
    const v3 = [
      { type: 'identity', endpoints: [
        { interface: 'public', region_id: 'RegionTwo', url: 'http://two:5000/v3' },
        { interface: 'internal', region_id: 'RegionOne', url: 'http://internal:5000' },
        { interface: 'public', region_id: 'RegionOne', url: 'http://one/identity/' },
      ] },
    ];
    expect(identityUrl({ serviceCatalog: v3, authUrl: null, region: 'RegionOne' })).toBe('http://one/identity/v3');
    expect(identityUrl({ serviceCatalog: v3, authUrl: null, region: 'RegionOne', endpointType: 'internalURL' })).toBe('http://internal:5000/v3');
    expect(identityUrl({ serviceCatalog: v3, authUrl: 'http://conf:5000/v2.0', region: 'RegionNine' })).toBe('http://conf:5000/v3');
  });

  it('uses [service_credentials] auth_url when the context has no catalog (Trove\'s taskmanager sends service_catalog: null)', async () => {
    for (const authUrl of [base, `${base}/v3`, `${base}/v3/`]) {
      const project = await lookupTokenProject(KEYSTONE_TOKEN, options({ serviceCatalog: null, authUrl }));
      expect(project.name).toBe('demo');
    }
  });

  it('without a catalog entry or auth_url: fails naming both, before any request', async () => {
    const before = keystone.seen.length;
    const error = await failure(lookupTokenProject(KEYSTONE_TOKEN, options({ serviceCatalog: [{ type: 'object-store', endpoints: [] }], region: 'RegionX' })));
    expect(error.kind).toBe('endpoint');
    expect(error.message).toMatch(/no identity publicURL endpoint in region RegionX.*\[service_credentials\] auth_url is not set/);
    expect(keystone.seen.length).toBe(before);
  });

  it('a token Keystone does not know: 401, "the user\'s token was refused by Keystone"', async () => {
    const error = await failure(lookupTokenProject('gAAAAABnotAtoken', options()));
    expect(error.kind).toBe('auth');
    expect(error.status).toBe(401);
    expect(error.message).toContain("the user's token was refused by Keystone");
    expect(error.message).not.toContain('gAAAAABnotAtoken');
  });

  it('an expired token is refused too', async () => {
    const expired = 'gAAAAABexpiredTOKEN';
    keystone.addToken(expired, { user: KEYSTONE_USER, project: KEYSTONE_PROJECT, expiresAtMs: Date.now() - 1000 });
    expect((await failure(lookupTokenProject(expired, options()))).status).toBe(401);
  });

  it('a policy that forbids self-validation: 403, named', async () => {
    keystone.selfValidation = false;
    try {
      const error = await failure(lookupTokenProject(KEYSTONE_TOKEN, options()));
      expect(error.status).toBe(403);
      expect(error.message).toMatch(/policy does not let the user's token validate itself/);
    } finally {
      keystone.selfValidation = true;
    }
  });

  it('a token of another project than the request\'s: refused, naming both ids', async () => {
    const error = await failure(lookupTokenProject(BOB, options()));
    expect(error.kind).toBe('auth');
    expect(error.message).toContain(`scoped to project p-bob, not to the request's project ${KEYSTONE_PROJECT.id}`);
    // Without a project id in the request there is nothing to compare.
    expect((await lookupTokenProject(BOB, options({ expectedProjectId: null }))).name).toBe('bobs');
  });

  it('a domain-scoped token: refused, K2HR3 needs a project', async () => {
    const error = await failure(lookupTokenProject(DOMAIN_SCOPED, options()));
    expect(error.message).toMatch(/not scoped to a project/);
  });

  it('an unreachable Keystone: fails naming the URL', async () => {
    const gone = await rogue(() => undefined);
    await new Promise<void>((resolve) => gone.server.close(() => resolve()));
    const error = await failure(lookupTokenProject(KEYSTONE_TOKEN, options({ serviceCatalog: null, authUrl: gone.url, retryDelayMs: 10 })));
    expect(error.kind).toBe('unavailable');
    expect(error.message).toContain(`Keystone at ${gone.url}/v3/auth/tokens cannot be reached (ECONNREFUSED)`);
  });

  it('a Keystone that does not answer in time: unavailable, after asking `attempts` times', async () => {
    let requests = 0;
    const silent = await rogue(() => { requests += 1; });
    try {
      const error = await failure(lookupTokenProject(KEYSTONE_TOKEN, options({ serviceCatalog: null, authUrl: silent.url, timeoutMs: 200, retryDelayMs: 10 })));
      expect(error.kind).toBe('unavailable');
      expect(error.message).toContain(silent.url);
      expect(requests).toBe(3);
    } finally {
      silent.server.closeAllConnections();
      silent.server.close();
    }
  });

  it('a Keystone busy for a moment (503, then no answer in time) is asked again and gives the project', async () => {
    let requests = 0;
    const busy = createServer((req, res) => {
      requests += 1;
      if (requests === 1) { res.writeHead(503).end(); return; }
      if (requests === 2) return;
      // Then Keystone itself answers (the double, as it would have).
      void fetch(`${base.replace(/\/v3$/, '')}${req.url ?? ''}`, { headers: { 'X-Auth-Token': String(req.headers['x-auth-token']), 'X-Subject-Token': String(req.headers['x-subject-token']) } })
        .then(async (answer) => res.writeHead(answer.status, { 'Content-Type': 'application/json', 'X-Subject-Token': answer.headers.get('x-subject-token') ?? '' }).end(await answer.text()));
    });
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(busy.address() as AddressInfo).port}`;
      const project = await lookupTokenProject(KEYSTONE_TOKEN, options({ serviceCatalog: null, authUrl: url, timeoutMs: 200, retryDelayMs: 10 }));
      expect(project.name).toBe(KEYSTONE_PROJECT.name);
      expect(requests).toBe(3);
    } finally {
      busy.closeAllConnections();
      busy.close();
    }
  });

  it('a refusal is final: a 401 is not asked again', async () => {
    let requests = 0;
    const refusing = await rogue((res) => { requests += 1; res.writeHead(401).end(); });
    try {
      const error = await failure(lookupTokenProject(KEYSTONE_TOKEN, options({ serviceCatalog: null, authUrl: refusing.url, retryDelayMs: 10 })));
      expect(error.kind).toBe('auth');
      expect(requests).toBe(1);
    } finally {
      refusing.server.close();
    }
  });

  it('answers that are not a Keystone token body, or about another token, are rejected', async () => {
    const html = await rogue((res) => res.writeHead(200, { 'Content-Type': 'text/html', 'X-Subject-Token': KEYSTONE_TOKEN }).end('<html>proxy</html>'));
    const other = await rogue((res) => res.writeHead(200, { 'Content-Type': 'application/json', 'X-Subject-Token': 'another' }).end('{"token":{}}'));
    try {
      const bad = await failure(lookupTokenProject(KEYSTONE_TOKEN, options({ serviceCatalog: null, authUrl: html.url })));
      expect(bad.kind).toBe('bad_response');
      expect(bad.message).toContain('not a v3 token body');
      const wrong = await failure(lookupTokenProject(KEYSTONE_TOKEN, options({ serviceCatalog: null, authUrl: other.url })));
      expect(wrong.message).toContain('about another token');
    } finally {
      html.server.close();
      other.server.close();
    }
  });

  it('logs the project it found and never the token', async () => {
    const chunks: string[] = [];
    const stream = new Writable({ write(chunk: Buffer, _e, done) { chunks.push(chunk.toString('utf8')); done(); } });
    await lookupTokenProject(KEYSTONE_TOKEN, options({ log: createLogger({ level: 'debug', destination: stream }) }));
    const text = chunks.join('');
    expect(JSON.parse(text.trim())).toMatchObject({ project: 'demo', projectId: KEYSTONE_PROJECT.id, keystone: `${base}/v3/auth/tokens` });
    expect(text).not.toContain(KEYSTONE_TOKEN);
  });

  it('the Keystone double and the K2HR3 double agree on the test token', () => {
    expect(keystone.k2hr3Keystone()[KEYSTONE_TOKEN]).toEqual({ user: 'alice', projects: ['demo'] });
  });
});
