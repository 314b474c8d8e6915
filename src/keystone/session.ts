import axios from 'axios';
import { keystoneV3Url, validateTokenBody, type TokenBody } from './v3';

/**
 * A Keystone v3 session for the command-line tools, built from the variables of an openrc file
 * as python-openstackclient reads them (OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME,
 * OS_USER_DOMAIN_NAME, ...; or OS_APPLICATION_CREDENTIAL_ID/SECRET). Unlike troveclient 8's own
 * Mistral client, the user and project domains always go into the request: Keystone v3 answers
 * 400 "Expecting to find domain in project" without them.
 */
export interface OpenstackAuth {
  readonly authUrl: string;
  readonly identity:
    | { readonly kind: 'password'; readonly username: string; readonly password: string; readonly userDomain: DomainRef; readonly project: ProjectRef }
    | { readonly kind: 'application_credential'; readonly id: string; readonly secret: string };
  readonly regionName: string | undefined;
  /** `public`, `internal` or `admin`. */
  readonly interface: string;
}

export type DomainRef = { readonly id: string } | { readonly name: string };
export type ProjectRef = { readonly id: string } | { readonly name: string; readonly domain: DomainRef };

/** A project-scoped token with its catalog. The token never goes into a message. */
export interface KeystoneSession {
  readonly token: string;
  readonly projectId: string;
  readonly catalog: TokenBody['token']['catalog'];
  /** The catalog's URL for a service type at the session's interface and region, or null. */
  endpoint(serviceType: string): string | null;
}

export class OpenstackAuthError extends Error {}

type Env = Readonly<Record<string, string | undefined>>;

function pick(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value;
}

function domainFrom(env: Env, prefix: 'USER' | 'PROJECT'): DomainRef {
  const id = pick(env, `OS_${prefix}_DOMAIN_ID`);
  const name = pick(env, `OS_${prefix}_DOMAIN_NAME`);
  if (id !== undefined) return { id };
  // openstackclient's default domain when an openrc names none.
  return name !== undefined ? { name } : { id: 'default' };
}

/** Reads the openrc variables; throws naming the variable that is missing. */
export function authFromEnv(env: Env): OpenstackAuth {
  const authUrl = pick(env, 'OS_AUTH_URL');
  if (authUrl === undefined) throw new OpenstackAuthError('OS_AUTH_URL is not set: source the openrc file of your project (or the operator\'s)');
  if (!/^https?:\/\/[^\s]+$/.test(authUrl)) throw new OpenstackAuthError(`OS_AUTH_URL ${JSON.stringify(authUrl)} is not an http(s) URL`);
  const regionName = pick(env, 'OS_REGION_NAME');
  const iface = (pick(env, 'OS_INTERFACE') ?? 'public').replace(/URL$/, '');
  if (!['public', 'internal', 'admin'].includes(iface)) throw new OpenstackAuthError(`OS_INTERFACE must be public, internal or admin, not ${JSON.stringify(iface)}`);
  const acId = pick(env, 'OS_APPLICATION_CREDENTIAL_ID');
  if (acId !== undefined) {
    const secret = pick(env, 'OS_APPLICATION_CREDENTIAL_SECRET');
    if (secret === undefined) throw new OpenstackAuthError('OS_APPLICATION_CREDENTIAL_SECRET is not set (OS_APPLICATION_CREDENTIAL_ID is)');
    return { authUrl, identity: { kind: 'application_credential', id: acId, secret }, regionName, interface: iface };
  }
  const username = pick(env, 'OS_USERNAME');
  const password = pick(env, 'OS_PASSWORD');
  if (username === undefined || password === undefined) {
    throw new OpenstackAuthError(`${username === undefined ? 'OS_USERNAME' : 'OS_PASSWORD'} is not set: source an openrc file (or set OS_APPLICATION_CREDENTIAL_ID/SECRET)`);
  }
  const projectId = pick(env, 'OS_PROJECT_ID') ?? pick(env, 'OS_TENANT_ID');
  const projectName = pick(env, 'OS_PROJECT_NAME') ?? pick(env, 'OS_TENANT_NAME');
  let project: ProjectRef;
  if (projectId !== undefined) project = { id: projectId };
  else if (projectName !== undefined) project = { name: projectName, domain: domainFrom(env, 'PROJECT') };
  else throw new OpenstackAuthError('OS_PROJECT_NAME (or OS_PROJECT_ID) is not set: a schedule belongs to a project');
  return { authUrl, identity: { kind: 'password', username, password, userDomain: domainFrom(env, 'USER'), project }, regionName, interface: iface };
}

function requestBody(auth: OpenstackAuth): unknown {
  const id = auth.identity;
  if (id.kind === 'application_credential') {
    return { auth: { identity: { methods: ['application_credential'], application_credential: { id: id.id, secret: id.secret } } } };
  }
  return {
    auth: {
      identity: { methods: ['password'], password: { user: { name: id.username, domain: id.userDomain, password: id.password } } },
      scope: { project: id.project },
    },
  };
}

function who(auth: OpenstackAuth): string {
  const id = auth.identity;
  if (id.kind === 'application_credential') return `application credential ${id.id}`;
  const project = 'id' in id.project ? id.project.id : id.project.name;
  return `user ${id.username} (project ${project})`;
}

/** POST /v3/auth/tokens; a project-scoped token and catalog, or an error saying what to check. */
export async function openSession(auth: OpenstackAuth, timeoutMs = 30_000): Promise<KeystoneSession> {
  const url = `${keystoneV3Url(auth.authUrl)}/auth/tokens`;
  let res;
  try {
    res = await axios.post(url, requestBody(auth), { timeout: timeoutMs, validateStatus: () => true, headers: { 'Content-Type': 'application/json' } });
  } catch (error) {
    throw new OpenstackAuthError(`Keystone at ${url} cannot be reached (${(error as Error).message}): check OS_AUTH_URL`);
  }
  if (res.status === 401) throw new OpenstackAuthError(`Keystone at ${url} refused ${who(auth)} (401): check the password or credential`);
  if (res.status !== 201 && res.status !== 200) {
    const detail = typeof res.data === 'object' && res.data !== null ? (res.data as { error?: { message?: string } }).error?.message : undefined;
    throw new OpenstackAuthError(`Keystone at ${url} answered ${res.status} for ${who(auth)}${detail ? `: ${detail}` : ''}`);
  }
  const token = res.headers['x-subject-token'];
  if (typeof token !== 'string' || token === '' || !validateTokenBody(res.data)) {
    throw new OpenstackAuthError(`Keystone at ${url} answered without a token or with an unexpected body`);
  }
  const body = res.data;
  const projectId = body.token.project?.id;
  if (projectId === undefined) throw new OpenstackAuthError(`Keystone gave ${who(auth)} a token without a project: set OS_PROJECT_NAME`);
  return {
    token,
    projectId,
    catalog: body.token.catalog,
    endpoint: (serviceType) => {
      // No OS_REGION_NAME: any region (a one-region cloud), as openstackclient does.
      for (const service of body.token.catalog ?? []) {
        if (service.type !== serviceType) continue;
        const found = service.endpoints.find((e) => e.interface === auth.interface
          && (auth.regionName === undefined || e.region_id === auth.regionName || e.region === auth.regionName));
        if (found) return found.url;
      }
      return null;
    },
  };
}
