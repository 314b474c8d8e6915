import axios, { type AxiosInstance } from 'axios';
import { catalogEndpoint } from '../keystone/catalog';
import { keystoneV3Url, validateTokenBody } from '../keystone/v3';
import type { CloudSettings } from './clouds';
import { CliError } from './errors';
import { scrub } from './openstack-http';

/**
 * A Keystone v3 session: one POST /v3/auth/tokens (password or application credential, scoped
 * to a project), then the token and the catalog's endpoints for the services the CLI calls.
 * The token travels only in X-Auth-Token headers; nothing here prints it.
 */
export interface Session {
  readonly token: string;
  readonly project: { readonly id: string; readonly name: string };
  /** Base URL of `serviceType` in the catalog (interface and region of the settings). */
  endpoint(serviceType: string): string;
  /** Like endpoint(), null when the catalog has none. */
  findEndpoint(serviceType: string): string | null;
  /** Values to scrub from any text printed. */
  readonly secrets: readonly string[];
}

const TIMEOUT_MS = 30_000;

function authBody(settings: CloudSettings): unknown {
  const a = settings.auth;
  const domain = (name: string | undefined, id: string | undefined): Record<string, string> =>
    id !== undefined ? { id } : { name: name ?? 'Default' };
  if (a.authType === 'application_credential') {
    const cred: Record<string, unknown> = { secret: a.applicationCredentialSecret };
    if (a.applicationCredentialId !== undefined) cred['id'] = a.applicationCredentialId;
    else {
      cred['name'] = a.applicationCredentialName;
      cred['user'] = a.userId !== undefined ? { id: a.userId } : { name: a.username, domain: domain(a.userDomainName, a.userDomainId) };
    }
    // An application credential is scoped to its project already; Keystone refuses a scope with it.
    return { auth: { identity: { methods: ['application_credential'], application_credential: cred } } };
  }
  const user = a.userId !== undefined ? { id: a.userId, password: a.password } : { name: a.username, domain: domain(a.userDomainName, a.userDomainId), password: a.password };
  const project = a.projectId !== undefined ? { id: a.projectId } : { name: a.projectName, domain: domain(a.projectDomainName, a.projectDomainId) };
  return { auth: { identity: { methods: ['password'], password: { user } }, scope: { project } } };
}

/** Authenticates; throws CliError naming Keystone's answer (never the credentials). */
export async function openSession(settings: CloudSettings, http: AxiosInstance = axios.create()): Promise<Session> {
  const url = `${keystoneV3Url(settings.auth.authUrl)}/auth/tokens`;
  const secrets = [settings.auth.password, settings.auth.applicationCredentialSecret].filter((s): s is string => s !== undefined);
  let res;
  try {
    res = await http.post(url, authBody(settings), {
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      timeout: TIMEOUT_MS,
      validateStatus: () => true,
      maxRedirects: 0,
    });
  } catch (error) {
    throw new CliError('service', `Keystone at ${url} cannot be reached: ${scrub((error as Error).message, secrets)}`);
  }
  if (res.status === 401) {
    const what = settings.auth.authType === 'password' ? 'the user name, password, domain and project' : 'the application credential id and secret';
    throw new CliError('service', `Keystone at ${url} refused the credentials (401): check ${what}`);
  }
  if (res.status !== 201 && res.status !== 200) {
    throw new CliError('service', `Keystone at ${url} answered ${res.status} to the token request`);
  }
  const token = res.headers['x-subject-token'];
  const body: unknown = res.data;
  if (typeof token !== 'string' || token === '' || !validateTokenBody(body)) {
    throw new CliError('service', `Keystone at ${url} answered without a token or with an unexpected body`);
  }
  const project = body.token.project;
  if (!project || typeof project.name !== 'string' || project.name === '') {
    throw new CliError('config', 'the Keystone token is not scoped to a project: set the project name (or use an application credential of a project)');
  }
  const catalog = body.token.catalog ?? [];
  const region = settings.regionName;
  const findEndpoint = (serviceType: string): string | null => {
    if (region === null) {
      // No region asked for: the first endpoint of the interface, as openstacksdk does with one region.
      for (const service of catalog) {
        if (service.type !== serviceType) continue;
        const ep = service.endpoints.find((e) => e.interface === settings.interface);
        if (ep) return ep.url.replace(/\/+$/, '');
      }
      return null;
    }
    const found = catalogEndpoint(catalog, { serviceType, endpointType: `${settings.interface}URL`, region });
    return found === null ? null : found.replace(/\/+$/, '');
  };
  return {
    token,
    project: { id: project.id, name: project.name },
    secrets: [token, ...secrets],
    findEndpoint,
    endpoint(serviceType: string): string {
      const url = findEndpoint(serviceType);
      if (url === null) {
        throw new CliError('config', `the Keystone catalog has no ${settings.interface} "${serviceType}" endpoint${region ? ` in region ${region}` : ''}`);
      }
      return url;
    },
  };
}
