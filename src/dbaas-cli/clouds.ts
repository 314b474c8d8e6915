import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { DomainRef, OpenstackAuth, UserRef } from '../keystone/session';
import { CliError } from './errors';

/**
 * Credentials the way the `openstack` CLI finds them (openstacksdk's config loader): a
 * `clouds.yaml` entry picked by `--os-cloud` / OS_CLOUD (with `secure.yaml` merged over it),
 * then OS_* variables, then `--os-*` options, each overriding the one before. Keystone v3 only,
 * with a password or an application credential. The result says where each value came from, so
 * `configuration show` can explain a surprise without ever printing a secret.
 */

export type AuthType = 'password' | 'application_credential';

export interface AuthSettings {
  authUrl: string;
  authType: AuthType;
  username?: string;
  userId?: string;
  password?: string;
  projectName?: string;
  projectId?: string;
  userDomainName?: string;
  userDomainId?: string;
  projectDomainName?: string;
  projectDomainId?: string;
  applicationCredentialId?: string;
  applicationCredentialName?: string;
  applicationCredentialSecret?: string;
}

export interface CloudSettings {
  /** The clouds.yaml entry used, or null (variables and options only). */
  cloud: string | null;
  /** The clouds.yaml file read, or null. */
  file: string | null;
  auth: AuthSettings;
  regionName: string | null;
  /** Catalog interface: public (default), internal or admin. */
  interface: 'public' | 'internal' | 'admin';
  /** K2HR3 API base URL (not in Keystone's catalog in DBaaS deployments); null = ask the catalog for `k2hr3`. */
  k2hr3ApiUrl: string | null;
}

/** The `--os-*` options main.ts accepts (camel-cased by commander), all optional. */
export interface CloudOptions {
  osCloud?: string;
  osAuthUrl?: string;
  osAuthType?: string;
  osUsername?: string;
  osUserId?: string;
  osPassword?: string;
  osProjectName?: string;
  osProjectId?: string;
  osUserDomainName?: string;
  osUserDomainId?: string;
  osProjectDomainName?: string;
  osProjectDomainId?: string;
  osApplicationCredentialId?: string;
  osApplicationCredentialName?: string;
  osApplicationCredentialSecret?: string;
  osRegionName?: string;
  osInterface?: string;
  k2hr3ApiUrl?: string;
}

/** Keys whose values are never printed. */
export const SECRET_KEYS: ReadonlySet<string> = new Set(['password', 'applicationCredentialSecret', 'token']);

/** One auth key: its clouds.yaml name, its OS_* variables (first set wins), its option. */
const AUTH_KEYS: readonly { key: keyof AuthSettings; yaml: string; env: readonly string[]; opt: keyof CloudOptions }[] = [
  { key: 'authUrl', yaml: 'auth_url', env: ['OS_AUTH_URL'], opt: 'osAuthUrl' },
  { key: 'username', yaml: 'username', env: ['OS_USERNAME'], opt: 'osUsername' },
  { key: 'userId', yaml: 'user_id', env: ['OS_USER_ID'], opt: 'osUserId' },
  { key: 'password', yaml: 'password', env: ['OS_PASSWORD'], opt: 'osPassword' },
  { key: 'projectName', yaml: 'project_name', env: ['OS_PROJECT_NAME', 'OS_TENANT_NAME'], opt: 'osProjectName' },
  { key: 'projectId', yaml: 'project_id', env: ['OS_PROJECT_ID', 'OS_TENANT_ID'], opt: 'osProjectId' },
  { key: 'userDomainName', yaml: 'user_domain_name', env: ['OS_USER_DOMAIN_NAME'], opt: 'osUserDomainName' },
  { key: 'userDomainId', yaml: 'user_domain_id', env: ['OS_USER_DOMAIN_ID'], opt: 'osUserDomainId' },
  { key: 'projectDomainName', yaml: 'project_domain_name', env: ['OS_PROJECT_DOMAIN_NAME'], opt: 'osProjectDomainName' },
  { key: 'projectDomainId', yaml: 'project_domain_id', env: ['OS_PROJECT_DOMAIN_ID'], opt: 'osProjectDomainId' },
  { key: 'applicationCredentialId', yaml: 'application_credential_id', env: ['OS_APPLICATION_CREDENTIAL_ID'], opt: 'osApplicationCredentialId' },
  { key: 'applicationCredentialName', yaml: 'application_credential_name', env: ['OS_APPLICATION_CREDENTIAL_NAME'], opt: 'osApplicationCredentialName' },
  { key: 'applicationCredentialSecret', yaml: 'application_credential_secret', env: ['OS_APPLICATION_CREDENTIAL_SECRET'], opt: 'osApplicationCredentialSecret' },
];

/** Where clouds.yaml is looked for, in openstacksdk's order. */
export function cloudsYamlCandidates(env: NodeJS.ProcessEnv, cwd: string, home = homedir()): string[] {
  const explicit = env['OS_CLIENT_CONFIG_FILE'];
  if (explicit !== undefined && explicit !== '') return [explicit];
  return [join(cwd, 'clouds.yaml'), join(home, '.config', 'openstack', 'clouds.yaml'), '/etc/openstack/clouds.yaml'];
}

function secureYamlCandidates(env: NodeJS.ProcessEnv, cwd: string, home = homedir()): string[] {
  const explicit = env['OS_SECURE_FILE'];
  if (explicit !== undefined && explicit !== '') return [explicit];
  return [join(cwd, 'secure.yaml'), join(home, '.config', 'openstack', 'secure.yaml'), '/etc/openstack/secure.yaml'];
}

type Yaml = Record<string, unknown>;

function isObject(v: unknown): v is Yaml {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads and parses the first existing file; null when none exists. Parse errors name the file, not its content. */
function readFirstYaml(paths: readonly string[]): { path: string; doc: Yaml } | null {
  for (const path of paths) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new CliError('config', `${path} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    let doc: unknown;
    try {
      doc = parseYaml(text, { maxAliasCount: 100 });
    } catch (error) {
      // The YAML library quotes the offending line, which may hold a password: give the position only.
      const pos = (error as { linePos?: { line: number; col: number }[] }).linePos?.[0];
      throw new CliError('config', `${path} is not valid YAML${pos ? ` (line ${pos.line}, column ${pos.col})` : ''}`);
    }
    if (doc === null || doc === undefined) doc = {};
    if (!isObject(doc)) throw new CliError('config', `${path} must be a YAML mapping with a "clouds" key`);
    return { path, doc };
  }
  return null;
}

function deepMerge(base: Yaml, over: Yaml): Yaml {
  const out: Yaml = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isObject(v) && isObject(out[k]) ? deepMerge(out[k] as Yaml, v) : v;
  return out;
}

function scalar(value: unknown, where: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new CliError('config', `${where} must be a string`);
}

function envValue(env: NodeJS.ProcessEnv, names: readonly string[]): string | undefined {
  for (const name of names) {
    const v = env[name];
    if (v !== undefined && v !== '') return v;
  }
  return undefined;
}

/** openstacksdk's auth type names → ours. */
function authTypeOf(raw: string, where: string): AuthType {
  switch (raw) {
    case 'password':
    case 'v3password':
      return 'password';
    case 'application_credential':
    case 'v3applicationcredential':
    case 'v3_application_credential':
      return 'application_credential';
    default:
      throw new CliError('config', `${where} "${raw}" is not supported: use password (v3password) or v3applicationcredential`);
  }
}

/**
 * Works out the settings. `env` and `cwd` are parameters so tests can give their own.
 * Throws CliError('config') naming the missing or bad value and where it could be set.
 */
export function resolveCloud(options: CloudOptions, env: NodeJS.ProcessEnv, cwd: string, home = homedir()): CloudSettings {
  const cloudName = options.osCloud ?? envValue(env, ['OS_CLOUD']);
  let entry: Yaml = {};
  let file: string | null = null;
  if (cloudName !== undefined) {
    const clouds = readFirstYaml(cloudsYamlCandidates(env, cwd, home));
    if (clouds === null) {
      throw new CliError('config', `cloud "${cloudName}" was asked for, but no clouds.yaml was found (looked in ${cloudsYamlCandidates(env, cwd, home).join(', ')})`);
    }
    const secure = readFirstYaml(secureYamlCandidates(env, cwd, home));
    const merged = secure === null ? clouds.doc : deepMerge(clouds.doc, secure.doc);
    const all = merged['clouds'];
    if (!isObject(all) || !isObject(all[cloudName])) {
      const names = isObject(all) ? Object.keys(all) : [];
      throw new CliError('config', `cloud "${cloudName}" is not in ${clouds.path}${names.length > 0 ? ` (it has: ${names.join(', ')})` : ''}`);
    }
    entry = all[cloudName] as Yaml;
    file = clouds.path;
  }
  const where = (key: string): string => `clouds.yaml clouds.${cloudName ?? '?'}.${key}`;
  const yamlAuth = entry['auth'] === undefined ? {} : entry['auth'];
  if (!isObject(yamlAuth)) throw new CliError('config', `${where('auth')} must be a mapping`);

  const auth: Partial<AuthSettings> = {};
  for (const k of AUTH_KEYS) {
    const value = options[k.opt] ?? envValue(env, k.env) ?? scalar(yamlAuth[k.yaml], where(`auth.${k.yaml}`));
    if (value !== undefined) (auth as Record<string, string>)[k.key] = value;
  }
  const rawType = options.osAuthType ?? envValue(env, ['OS_AUTH_TYPE']) ?? scalar(entry['auth_type'], where('auth_type'));
  const authType =
    rawType !== undefined
      ? authTypeOf(rawType, options.osAuthType ? '--os-auth-type' : env['OS_AUTH_TYPE'] ? 'OS_AUTH_TYPE' : where('auth_type'))
      : auth.applicationCredentialId !== undefined || auth.applicationCredentialName !== undefined
        ? 'application_credential'
        : 'password';
  const identityVersion = scalar(entry['identity_api_version'], where('identity_api_version')) ?? envValue(env, ['OS_IDENTITY_API_VERSION']);
  if (identityVersion !== undefined && identityVersion !== '3') {
    throw new CliError('config', `identity API version ${identityVersion} is not supported: k2hdkc-dbaas speaks Keystone v3 only`);
  }
  const missing = (what: string, key: string, envName: string, opt: string): CliError =>
    new CliError('config', `${what} is not set: give --${opt}, set ${envName}, or add auth.${key} to the clouds.yaml entry${cloudName ? ` "${cloudName}"` : ' (--os-cloud)'}`);
  if (auth.authUrl === undefined) throw missing('the Keystone URL', 'auth_url', 'OS_AUTH_URL', 'os-auth-url');
  try {
    const url = new URL(auth.authUrl);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme');
  } catch {
    throw new CliError('config', 'the Keystone URL (auth_url) is not an http(s) URL');
  }
  if (authType === 'password') {
    if (auth.username === undefined && auth.userId === undefined) throw missing('the user name', 'username', 'OS_USERNAME', 'os-username');
    if (auth.password === undefined) throw missing('the password', 'password', 'OS_PASSWORD', 'os-password');
    if (auth.projectName === undefined && auth.projectId === undefined) throw missing('the project', 'project_name', 'OS_PROJECT_NAME', 'os-project-name');
  } else {
    if (auth.applicationCredentialId === undefined && auth.applicationCredentialName === undefined) {
      throw missing('the application credential id', 'application_credential_id', 'OS_APPLICATION_CREDENTIAL_ID', 'os-application-credential-id');
    }
    if (auth.applicationCredentialSecret === undefined) {
      throw missing('the application credential secret', 'application_credential_secret', 'OS_APPLICATION_CREDENTIAL_SECRET', 'os-application-credential-secret');
    }
    if (auth.applicationCredentialId === undefined && auth.username === undefined && auth.userId === undefined) {
      throw missing('the user owning the named application credential', 'username', 'OS_USERNAME', 'os-username');
    }
  }
  const iface = (options.osInterface ?? envValue(env, ['OS_INTERFACE', 'OS_ENDPOINT_TYPE']) ?? scalar(entry['interface'], where('interface')) ?? 'public').replace(/URL$/, '');
  if (iface !== 'public' && iface !== 'internal' && iface !== 'admin') {
    throw new CliError('config', `interface "${iface}" is not one of public, internal, admin`);
  }
  const k2hr3ApiUrl = options.k2hr3ApiUrl ?? envValue(env, ['K2HR3_API_URL']) ?? scalar(entry['k2hr3_api_url'], where('k2hr3_api_url')) ?? null;
  return {
    cloud: cloudName ?? null,
    file,
    auth: { ...(auth as AuthSettings), authType },
    regionName: options.osRegionName ?? envValue(env, ['OS_REGION_NAME']) ?? scalar(entry['region_name'], where('region_name')) ?? null,
    interface: iface,
    k2hr3ApiUrl,
  };
}

/** The settings as `configuration show` prints them: secrets replaced by `<redacted>`. */
export function describeCloud(settings: CloudSettings): Record<string, string> {
  const out: Record<string, string> = {
    cloud: settings.cloud ?? '',
    'clouds.yaml': settings.file ?? '',
    auth_type: settings.auth.authType,
  };
  for (const k of AUTH_KEYS) {
    const v = settings.auth[k.key];
    if (v === undefined) continue;
    out[`auth.${k.yaml}`] = SECRET_KEYS.has(k.key) ? '<redacted>' : v;
  }
  out['region_name'] = settings.regionName ?? '';
  out['interface'] = settings.interface;
  out['k2hr3_api_url'] = settings.k2hr3ApiUrl ?? '(from the catalog)';
  return out;
}

/** Every secret in the settings, for scrubbing any text before it is printed. */
export function secretsOf(settings: CloudSettings): string[] {
  return [settings.auth.password, settings.auth.applicationCredentialSecret].filter((s): s is string => s !== undefined && s.length >= 3);
}

/** The settings as the Keystone session takes them (resolveCloud has checked what each kind needs). */
export function keystoneAuthOf(settings: CloudSettings): OpenstackAuth {
  const a = settings.auth;
  const domain = (name: string | undefined, id: string | undefined): DomainRef => (id !== undefined ? { id } : { name: name ?? 'Default' });
  const user: UserRef = a.userId !== undefined ? { id: a.userId } : { name: a.username ?? '', domain: domain(a.userDomainName, a.userDomainId) };
  const common = { authUrl: a.authUrl, regionName: settings.regionName ?? undefined, interface: settings.interface };
  if (a.authType === 'application_credential') {
    const credential = a.applicationCredentialId !== undefined ? { id: a.applicationCredentialId } : { name: a.applicationCredentialName ?? '', user };
    return { ...common, identity: { kind: 'application_credential', credential, secret: a.applicationCredentialSecret ?? '' } };
  }
  const project = a.projectId !== undefined ? { id: a.projectId } : { name: a.projectName ?? '', domain: domain(a.projectDomainName, a.projectDomainId) };
  return { ...common, identity: { kind: 'password', user, password: a.password ?? '', project } };
}
