import axios, { type AxiosInstance } from 'axios';
import { catalogEndpoint } from './catalog';
import { keystoneV3Url, validateTokenBody, type CatalogEndpoint } from './v3';

/**
 * The one Keystone v3 session of the controller-side tools (k2hdkc-dbaas, its `backup
 * schedule`, k2hdkc-trove-mistral-register, the backup scheduler): one POST /v3/auth/tokens with
 * a password or an application credential, scoped to a project, then the token and the
 * catalog's endpoints. Each tool reads its credentials its own way (an openrc below, clouds.yaml,
 * scheduler.conf) into an OpenstackAuth. The token and the secrets never go into a message.
 */

export type DomainRef = { readonly id: string } | { readonly name: string };
export type UserRef = { readonly id: string } | { readonly name: string; readonly domain: DomainRef };
export type ProjectRef = { readonly id: string } | { readonly name: string; readonly domain: DomainRef };

export type KeystoneIdentity =
  | { readonly kind: 'password'; readonly user: UserRef; readonly password: string; readonly project: ProjectRef }
  | {
      readonly kind: 'application_credential';
      /** By id, or by name with its owner. */
      readonly credential: { readonly id: string } | { readonly name: string; readonly user: UserRef };
      readonly secret: string;
    };

export interface OpenstackAuth {
  readonly authUrl: string;
  readonly identity: KeystoneIdentity;
  /** undefined: any region (a one-region cloud), as openstackclient does. */
  readonly regionName: string | undefined;
  /** `public`, `internal` or `admin`. */
  readonly interface: string;
}

/** A project-scoped token with its catalog. */
export interface KeystoneSession {
  readonly token: string;
  readonly expiresAt: string;
  readonly project: { readonly id: string; readonly name: string };
  readonly catalog: readonly { readonly type: string; readonly endpoints: readonly CatalogEndpoint[] }[];
  /** The token and the credential's secret: scrubbed from any text printed. */
  readonly secrets: readonly string[];
  /** The catalog's URL (no trailing slash) of a service type at the interface and region, or null. */
  findEndpoint(serviceType: string): string | null;
}

/**
 * Why there is no session. `config`: the credentials are missing or malformed (nothing was
 * sent); `unreachable`, `refused` (401), `answered` (another status), `bad_response`: what
 * Keystone did; `unscoped`: its token has no project.
 */
export type OpenstackAuthFailure = 'config' | 'unreachable' | 'refused' | 'answered' | 'bad_response' | 'unscoped';

export class OpenstackAuthError extends Error {
  constructor(
    message: string,
    readonly reason: OpenstackAuthFailure = 'config',
    /** Keystone's HTTP status, when it answered. */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'OpenstackAuthError';
  }
}

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

/**
 * Reads the variables of an openrc file as python-openstackclient does (OS_AUTH_URL,
 * OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME, OS_USER_DOMAIN_NAME, ...; or
 * OS_APPLICATION_CREDENTIAL_ID/SECRET). Unlike troveclient 8's own Mistral client, the user and
 * project domains are always given: Keystone v3 answers 400 "Expecting to find domain in
 * project" without them. Throws naming the variable that is missing.
 */
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
    return { authUrl, identity: { kind: 'application_credential', credential: { id: acId }, secret }, regionName, interface: iface };
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
  return {
    authUrl,
    identity: { kind: 'password', user: { name: username, domain: domainFrom(env, 'USER') }, password, project },
    regionName,
    interface: iface,
  };
}

function requestBody(identity: KeystoneIdentity): unknown {
  if (identity.kind === 'application_credential') {
    // An application credential is scoped to its project already; Keystone refuses a scope with it.
    return { auth: { identity: { methods: ['application_credential'], application_credential: { ...identity.credential, secret: identity.secret } } } };
  }
  return {
    auth: {
      identity: { methods: ['password'], password: { user: { ...identity.user, password: identity.password } } },
      scope: { project: identity.project },
    },
  };
}

function refName(ref: { readonly id: string } | { readonly name: string }): string {
  return 'id' in ref ? ref.id : ref.name;
}

/** Who asked, for messages: never a secret. */
function who(identity: KeystoneIdentity): string {
  if (identity.kind === 'application_credential') return `application credential ${refName(identity.credential)}`;
  return `user ${refName(identity.user)} (project ${refName(identity.project)})`;
}

/** Replaces each secret in `text` with `<redacted>`. */
function scrubbed(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 3) out = out.split(s).join('<redacted>');
  return out;
}

export interface SessionOptions {
  readonly http?: AxiosInstance;
  readonly timeoutMs?: number;
}

/** POST /v3/auth/tokens; a project-scoped token and catalog, or an OpenstackAuthError saying what to check. */
export async function openSession(auth: OpenstackAuth, options: SessionOptions = {}): Promise<KeystoneSession> {
  const url = `${keystoneV3Url(auth.authUrl)}/auth/tokens`;
  const id = auth.identity;
  const secret = id.kind === 'password' ? id.password : id.secret;
  let res;
  try {
    res = await (options.http ?? axios).post(url, requestBody(id), {
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      timeout: options.timeoutMs ?? 30_000,
      validateStatus: () => true,
      // The credentials go to the Keystone named, never on to where it redirects.
      maxRedirects: 0,
    });
  } catch (error) {
    throw new OpenstackAuthError(`Keystone at ${url} cannot be reached (${scrubbed((error as Error).message, [secret])}): check the auth URL (OS_AUTH_URL)`, 'unreachable');
  }
  if (res.status === 401) {
    const refused = id.kind === 'password'
      ? `the credentials (401): check the user name, password, domain and project of ${who(id)}`
      : `${who(id)} (401): check its id, secret and expiry`;
    throw new OpenstackAuthError(`Keystone at ${url} refused ${refused}`, 'refused', 401);
  }
  if (res.status !== 201 && res.status !== 200) {
    const said = typeof res.data === 'object' && res.data !== null ? (res.data as { error?: { message?: unknown } }).error?.message : undefined;
    const detail = typeof said === 'string' && said !== '' ? `: ${scrubbed(said, [secret]).slice(0, 400)}` : '';
    throw new OpenstackAuthError(`Keystone at ${url} answered ${res.status} to the token request of ${who(id)}${detail}`, 'answered', res.status);
  }
  const token = res.headers['x-subject-token'];
  const body: unknown = res.data;
  if (typeof token !== 'string' || token === '' || !validateTokenBody(body)) {
    throw new OpenstackAuthError(`Keystone at ${url} answered without a token or with an unexpected body`, 'bad_response', res.status);
  }
  const project = body.token.project;
  if (!project || typeof project.name !== 'string' || project.name === '' || project.id === '') {
    throw new OpenstackAuthError(`Keystone gave ${who(id)} a token not scoped to a project: set the project name (OS_PROJECT_NAME), or use an application credential of a project`, 'unscoped');
  }
  const catalog = body.token.catalog ?? [];
  const region = auth.regionName;
  return {
    token,
    expiresAt: body.token.expires_at,
    project: { id: project.id, name: project.name },
    catalog,
    secrets: [token, secret],
    findEndpoint(serviceType: string): string | null {
      let found: string | null = null;
      if (region === undefined) {
        // No region asked for: the first endpoint of the interface, as openstackclient does with one region.
        found = catalog.filter((s) => s.type === serviceType).flatMap((s) => s.endpoints).find((e) => e.interface === auth.interface)?.url ?? null;
      } else {
        found = catalogEndpoint(catalog, { serviceType, endpointType: `${auth.interface}URL`, region });
      }
      return found === null ? null : found.replace(/\/+$/, '');
    },
  };
}
