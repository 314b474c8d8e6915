import axios from 'axios';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { KeystoneError } from '../errors';
import { sleep } from '../system/sleep';
import type { Logger } from '../log';
import { catalogEndpoint } from './catalog';
import { keystoneV3Url, validateProjectTokenBody } from './v3';

/**
 * The project a user's Keystone token is scoped to, asked of Keystone itself. Trove 18's request
 * context carries the project id but not its name (TroveContext is built from X-Tenant-Id only),
 * while K2HR3 names tenants by project name. `GET /v3/auth/tokens` with the token as both
 * X-Auth-Token and X-Subject-Token validates the token with itself, which Keystone's default
 * policy (identity:validate_token: the token's own subject) allows without any service account.
 */

export interface TokenProject {
  readonly id: string;
  readonly name: string;
  readonly domain: { readonly id: string; readonly name: string };
}

export interface TokenProjectOptions {
  /** The request context's `service_catalog` (keystonemiddleware's X-Service-Catalog; v2 or v3 form). */
  readonly serviceCatalog: unknown;
  /** `[service_credentials] auth_url`: used when the catalog has no identity endpoint. */
  readonly authUrl: string | null;
  /** `[service_credentials] region_name`. */
  readonly region: string;
  /** Catalog endpoint type (default `publicURL`, the one a guest VM can reach). */
  readonly endpointType?: string;
  /** The context's project id: the token must be scoped to it. */
  readonly expectedProjectId: string | null;
  /** Default 5 000 ms a request: prepare waits on this before anything else happens. */
  readonly timeoutMs?: number;
  /**
   * Requests made while Keystone cannot be reached, times out or answers 5xx (default 3): a
   * Keystone busy with a burst of logins (every member of a new cluster asks at once) answers a
   * moment later.
   */
  readonly attempts?: number;
  /** The pause before the second request, doubled before each later one (default 1 000 ms). */
  readonly retryDelayMs?: number;
  /** Source address (the node's K2HR3 address). */
  readonly localAddress?: string;
  readonly signal?: AbortSignal;
  readonly log?: Logger;
}

/** Which Keystone to ask: the catalog's identity endpoint, else auth_url; the v3 base URL. */
export function identityUrl(options: Pick<TokenProjectOptions, 'serviceCatalog' | 'authUrl' | 'region' | 'endpointType'>): string {
  const endpointType = options.endpointType ?? 'publicURL';
  const fromCatalog = catalogEndpoint(options.serviceCatalog, { serviceType: 'identity', endpointType, region: options.region });
  const url = fromCatalog ?? options.authUrl;
  if (url === null || url === '') {
    throw new KeystoneError(
      'endpoint',
      `the request context names no project, and no Keystone is known to ask for it: the service catalog has no identity ${endpointType} endpoint in region ${options.region} and [service_credentials] auth_url is not set`,
      { endpoint: '-' },
    );
  }
  return keystoneV3Url(url);
}

/**
 * Asks Keystone which project `token` is scoped to, again after a transient failure
 * (`attempts`). Throws KeystoneError; never logs the token.
 */
export async function lookupTokenProject(token: string, options: TokenProjectOptions): Promise<TokenProject> {
  const attempts = Math.max(1, options.attempts ?? 3);
  let delayMs = options.retryDelayMs ?? 1000;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await lookupOnce(token, options);
    } catch (error) {
      if (!(error instanceof KeystoneError) || error.kind !== 'unavailable' || attempt >= attempts || options.signal?.aborted) throw error;
      options.log?.warn({ attempt, attempts, retryInMs: delayMs, error: error.message }, 'Keystone did not answer the token lookup; asking again');
      await sleep(delayMs, options.signal);
      delayMs *= 2;
    }
  }
}

async function lookupOnce(token: string, options: TokenProjectOptions): Promise<TokenProject> {
  const url = `${identityUrl(options)}/auth/tokens`;
  const endpoint = `GET ${url}`;
  const agentOptions = { keepAlive: false, ...(options.localAddress ? { localAddress: options.localAddress } : {}) };
  let res;
  try {
    res = await axios.get(url, {
      // The catalog is not needed, only the scope.
      params: { nocatalog: '' },
      headers: { 'X-Auth-Token': token, 'X-Subject-Token': token, Accept: 'application/json' },
      timeout: options.timeoutMs ?? 5000,
      validateStatus: () => true,
      proxy: false,
      httpAgent: new HttpAgent(agentOptions),
      httpsAgent: new HttpsAgent(agentOptions),
      responseType: 'json',
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    if (options.signal?.aborted || axios.isCancel(error)) throw new KeystoneError('aborted', `${endpoint} was aborted`, { endpoint });
    const detail = axios.isAxiosError(error) ? (error.code ?? error.message) : String(error);
    throw new KeystoneError('unavailable', `Keystone at ${url} cannot be reached (${detail}) to look up the project of the user's token`, { endpoint, cause: error });
  }
  const status = res.status;
  if (status === 401) throw new KeystoneError('auth', `the user's token was refused by Keystone (401 from ${endpoint}): expired, revoked or not a token of this cloud`, { endpoint, status });
  if (status === 403) {
    throw new KeystoneError('auth', `Keystone's policy does not let the user's token validate itself (403 from ${endpoint}; identity:validate_token), so its project name is unknown`, { endpoint, status });
  }
  if (status === 404) throw new KeystoneError('auth', `Keystone does not know the user's token (404 from ${endpoint}): expired or revoked`, { endpoint, status });
  if (status !== 200) {
    throw new KeystoneError(status >= 500 ? 'unavailable' : 'bad_response', `Keystone answered ${status} to ${endpoint}`, { endpoint, status });
  }
  // Keystone echoes the validated token; another token would mean another scope.
  if (res.headers['x-subject-token'] !== token) {
    throw new KeystoneError('bad_response', `Keystone's answer to ${endpoint} is about another token (X-Subject-Token differs)`, { endpoint, status });
  }
  const body: unknown = res.data;
  const scope = (body as { token?: { project?: unknown } } | null)?.token;
  if (scope !== null && typeof scope === 'object' && (scope as { project?: unknown }).project === undefined) {
    throw new KeystoneError('auth', `the user's token is not scoped to a project (${endpoint}); K2HR3 needs a project-scoped token`, { endpoint, status });
  }
  if (!validateProjectTokenBody(body)) {
    const where = validateProjectTokenBody.errors?.[0];
    throw new KeystoneError('bad_response', `Keystone's answer to ${endpoint} is not a v3 token body (${where?.instancePath || '/'} ${where?.message ?? 'invalid'})`, { endpoint, status });
  }
  const { project } = body.token;
  if (options.expectedProjectId !== null && project.id !== options.expectedProjectId) {
    throw new KeystoneError('auth', `the user's token is scoped to project ${project.id}, not to the request's project ${options.expectedProjectId}`, { endpoint, status });
  }
  options.log?.info({ keystone: url, project: project.name, projectId: project.id }, 'project name of the user token from Keystone');
  return { id: project.id, name: project.name, domain: { id: project.domain.id, name: project.domain.name } };
}
