import { K2hr3Error } from '../errors';
import { K2hr3Http, type K2hr3HttpOptions } from './http';
import { RESOURCE_STRING_SCHEMA, RESULT_SCHEMA, type ResourceStringBody } from './schemas';
import { parseYrn, yrnUrlPath } from './yrn';

/** Options of a K2hr3Client: the API base URL plus how to talk HTTP. */
export interface K2hr3ClientOptions extends K2hr3HttpOptions {
  /** e.g. `http://k2hr3-api:18080` (no trailing `/v1`). */
  apiUrl: string;
}

/** How a node registers itself in a role (spec §1.3.2, §8.2). */
export interface HostRegistration {
  /** Container unique key: the instance id. */
  cuk: string;
  /** Node name; becomes chmpx NAME and CUSTOM_ID_SEED in the DBaaS template. */
  tag: string;
  /** Default `openstack-auto-v1`, as k2hr3-init.sh sends. */
  extra?: string;
  /** Default: none (port 0 = any). */
  port?: number;
  inboundip?: string;
  outboundip?: string;
}

const SAFE_PARAM_RE = /^[A-Za-z0-9_.:@\-]{1,255}$/;

/**
 * The guest's side of K2HR3: register this host in a role with the role token, read the
 * expanded resource, deregister. Each call names its endpoint in errors; tokens go only into
 * the `x-auth-token` header.
 */
export class K2hr3Client {
  readonly apiUrl: string;
  private readonly http: K2hr3Http;

  constructor(options: K2hr3ClientOptions) {
    this.apiUrl = checkBaseUrl(options.apiUrl);
    this.http = new K2hr3Http(options);
  }

  /**
   * `PUT /v1/role/<role yrn>?cuk&extra&tag` with `R=<token>` (201). K2HR3 registers the source
   * address of this request. Safe to repeat: the same ip/port/cuk entry is replaced.
   */
  async registerHost(roleYrn: string, roleToken: string, host: HostRegistration, signal?: AbortSignal): Promise<void> {
    const path = `/v1/role/${yrnUrlPath(checkRole(roleYrn))}`;
    const params: Record<string, string> = {
      cuk: checkParam('cuk', host.cuk),
      extra: checkParam('extra', host.extra ?? 'openstack-auto-v1'),
      tag: checkParam('tag', host.tag),
    };
    if (host.port !== undefined) params.port = String(checkPort(host.port));
    if (host.inboundip !== undefined) params.inboundip = checkParam('inboundip', host.inboundip);
    if (host.outboundip !== undefined) params.outboundip = checkParam('outboundip', host.outboundip);
    await this.http.send({
      method: 'PUT',
      url: `${this.apiUrl}${path}`,
      endpoint: `PUT ${this.apiUrl}${path}`,
      headers: { 'x-auth-token': `R=${roleToken}` },
      params,
      okStatus: 201,
      body: 'json',
      schema: RESULT_SCHEMA,
      secrets: [roleToken],
      ...(signal ? { signal } : {}),
    });
  }

  /**
   * `GET /v1/resource/<resource yrn>` with `R=<token>` (200): the server-expanded text of the
   * resource (for DBaaS, the CHMPX/K2HDKC INI). 404 means missing or denied by policy.
   */
  async readResource(resourceYrn: string, roleToken: string, signal?: AbortSignal): Promise<string> {
    const parsed = parseYrn(resourceYrn);
    if (!parsed || parsed.kind !== 'resource') {
      throw new K2hr3Error('bad_request', `${JSON.stringify(resourceYrn)} is not a full K2HR3 resource name`, { endpoint: '-' });
    }
    const path = `/v1/resource/${yrnUrlPath(resourceYrn)}`;
    const answer = await this.http.send({
      method: 'GET',
      url: `${this.apiUrl}${path}`,
      endpoint: `GET ${this.apiUrl}${path}`,
      headers: { 'x-auth-token': `R=${roleToken}`, 'Content-Type': 'application/json' },
      okStatus: 200,
      body: 'json',
      schema: RESOURCE_STRING_SCHEMA,
      secrets: [roleToken],
      ...(signal ? { signal } : {}),
    });
    return (answer.value as ResourceStringBody).resource;
  }

  /**
   * `DELETE /v1/role/<role yrn>?cuk=…` with NO token (204, empty body): the host removes its own
   * source address. A token on this URL would delete the role token instead (spec §1.3.3).
   */
  async deregisterHost(roleYrn: string, host: Pick<HostRegistration, 'cuk' | 'port'>, signal?: AbortSignal): Promise<void> {
    const path = `/v1/role/${yrnUrlPath(checkRole(roleYrn))}`;
    const params: Record<string, string> = { cuk: checkParam('cuk', host.cuk) };
    if (host.port !== undefined) params.port = String(checkPort(host.port));
    await this.http.send({
      method: 'DELETE',
      url: `${this.apiUrl}${path}`,
      endpoint: `DELETE ${this.apiUrl}${path}`,
      params,
      okStatus: 204,
      body: 'empty',
      ...(signal ? { signal } : {}),
    });
  }
}

/** Checks and normalises an API base URL (http/https, no query, no trailing slash). */
export function checkBaseUrl(apiUrl: string): string {
  let url: URL;
  try {
    url = new URL(apiUrl);
  } catch {
    throw new K2hr3Error('bad_request', 'The K2HR3 API URL is not a URL', { endpoint: '-' });
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password || url.search || url.hash) {
    throw new K2hr3Error('bad_request', `The K2HR3 API URL ${url.origin} must be a plain http(s) URL`, { endpoint: '-' });
  }
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}

function checkRole(roleYrn: string): string {
  const parsed = parseYrn(roleYrn);
  if (!parsed || parsed.kind !== 'role') {
    throw new K2hr3Error('bad_request', `${JSON.stringify(roleYrn)} is not a full K2HR3 role name`, { endpoint: '-' });
  }
  return roleYrn;
}

function checkParam(name: string, value: string): string {
  if (!SAFE_PARAM_RE.test(value)) {
    throw new K2hr3Error('bad_request', `K2HR3 registration parameter ${name}=${JSON.stringify(value.slice(0, 64))} is not usable`, {
      endpoint: '-',
    });
  }
  return value;
}

function checkPort(port: number): number {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new K2hr3Error('bad_request', `K2HR3 registration port ${port} is not a port number`, { endpoint: '-' });
  }
  return port;
}
