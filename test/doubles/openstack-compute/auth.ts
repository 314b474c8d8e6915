import axios from 'axios';

/** Who a token belongs to, as Keystone answered for it. */
export interface Identity {
  readonly userId: string;
  readonly userName: string;
  readonly projectId: string;
  readonly projectName: string;
  readonly roles: readonly string[];
}

/** Resolves an X-Auth-Token to its identity; null when the token is not valid (HTTP 401). */
export type Authenticator = (token: string) => Promise<Identity | null>;

export interface KeystoneServiceUser {
  /** `http://127.0.0.1:P/v3` */
  readonly url: string;
  readonly username: string;
  readonly password: string;
  readonly project: string;
}

const CACHE_MS = 60_000;

/**
 * Validates tokens the way keystonemiddleware does for a real nova or cinder: with the service's
 * own token, `GET /v3/auth/tokens` with the caller's token as X-Subject-Token (404 = not valid).
 * Answers are cached for a minute, as authtoken caches them.
 */
export function keystoneAuthenticator(service: KeystoneServiceUser): Authenticator {
  let serviceToken: { token: string; expires: number } | null = null;
  const cache = new Map<string, { identity: Identity; expires: number }>();

  const ownToken = async (): Promise<string> => {
    if (serviceToken !== null && serviceToken.expires > Date.now()) return serviceToken.token;
    const res = await axios.post(`${service.url}/auth/tokens`, {
      auth: {
        identity: { methods: ['password'], password: { user: { name: service.username, domain: { id: 'default' }, password: service.password } } },
        scope: { project: { name: service.project, domain: { id: 'default' } } },
      },
    }, { timeout: 30_000, validateStatus: () => true });
    const token = res.headers['x-subject-token'];
    if (res.status !== 201 || typeof token !== 'string') throw new Error(`the compute double could not authenticate as ${service.username}: HTTP ${res.status}`);
    serviceToken = { token, expires: Date.now() + 10 * CACHE_MS };
    return token;
  };

  return async (token) => {
    const hit = cache.get(token);
    if (hit !== undefined && hit.expires > Date.now()) return hit.identity;
    const res = await axios.get(`${service.url}/auth/tokens`, {
      headers: { 'X-Auth-Token': await ownToken(), 'X-Subject-Token': token },
      timeout: 30_000,
      validateStatus: () => true,
    });
    if (res.status === 401 || res.status === 404) return null;
    if (res.status !== 200) throw new Error(`Keystone answered token validation with HTTP ${res.status}`);
    const t = (res.data as { token: { user: { id: string; name: string }; project?: { id: string; name: string }; roles?: { name: string }[] } }).token;
    if (t.project === undefined) return null; // unscoped tokens are not accepted by project APIs
    const identity: Identity = {
      userId: t.user.id, userName: t.user.name, projectId: t.project.id, projectName: t.project.name,
      roles: (t.roles ?? []).map((r) => r.name),
    };
    cache.set(token, { identity, expires: Date.now() + CACHE_MS });
    return identity;
  };
}

/** A fixed token table, for tests of the double itself that do not start a Keystone. */
export function staticAuthenticator(tokens: Readonly<Record<string, Identity>>): Authenticator {
  return (token) => Promise.resolve(Object.hasOwn(tokens, token) ? tokens[token]! : null);
}
