/*
 * A real Keystone for tests: Debian's keystone 22 (python3-keystone) on a private sqlite database
 * with fernet tokens, served on loopback by uwsgi's python plugin. Set up the way an operator does
 * (`keystone-manage db_sync / fernet_setup / credential_setup / bootstrap`), then, through
 * Keystone's own v3 API as the bootstrap admin: a `service` project and role, a `trove` service
 * user (roles service and admin on project service), a `demo` project with a `demo` member user,
 * and the catalog entries the caller asks for.
 *
 * What it takes to run here (learned the hard way):
 * - uwsgi needs `http-socket` (plain `http` wants the separate http router plugin);
 * - sqlite needs WAL and one process with one thread, or Keystone hits `database is locked`;
 * - the `openstack` CLI reuses keep-alive connections uwsgi has already closed
 *   (ConnectionResetError) unless every answer says `Connection: close`.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import axios, { type AxiosInstance } from 'axios';
import { waitFor } from '../conformance/helpers/poll';
import { startProcess, stopProcess, tail, type Managed } from '../e2e/helpers/processes';
import { freePort } from '../helpers/free-port';

const run = promisify(execFile);
const KEYSTONE_MANAGE = '/usr/bin/keystone-manage';
const KEYSTONE_WSGI = '/usr/bin/keystone-wsgi-public';
const UWSGI = '/usr/bin/uwsgi';
const PYTHON = '/usr/bin/python3';
export const REGION = 'RegionOne';

/** A catalog entry: `url` may hold Keystone's `$(project_id)s` substitution (Swift's AUTH_). */
export interface CatalogService {
  readonly type: string;
  readonly name: string;
  readonly url: string;
}

export interface Credentials {
  readonly username: string;
  readonly password: string;
  readonly project: string;
  /** Ids Keystone gave them (tests compare them with what services saw). */
  readonly userId: string;
  readonly projectId: string;
}

export interface KeystoneFixture {
  /** `http://127.0.0.1:P/v3` */
  readonly url: string;
  /** `http://127.0.0.1:P` (keystonemiddleware's www_authenticate_uri, clients' auth_url). */
  readonly baseUrl: string;
  readonly dir: string;
  readonly admin: Credentials;
  /** The service user trove-api's authtoken and the taskmanager authenticate as. */
  readonly trove: Credentials;
  /** A project member: the user of the cloud. */
  readonly demo: Credentials;
  /** A project-scoped token (POST /v3/auth/tokens with a password). */
  token(who: Credentials): Promise<string>;
  /** Adds a service and its public/internal/admin endpoints to the catalog. */
  addService(service: CatalogService): Promise<void>;
  /** Another service user (roles service and admin in project service), e.g. for Swift's authtoken. */
  addServiceUser(name: string): Promise<Credentials>;
  /** The tail of Keystone's log, for failure reports. */
  logTail(): string;
  stop(keep?: boolean): Promise<void>;
}

export interface KeystoneOptions {
  readonly services?: readonly CatalogService[];
}

function keystoneConf(dir: string): string {
  return [
    '[DEFAULT]',
    `log_file = ${join(dir, 'keystone.log')}`,
    'use_stderr = false',
    '',
    '[database]',
    `connection = sqlite:///${join(dir, 'keystone.sqlite')}`,
    '',
    '[token]',
    'provider = fernet',
    'expiration = 14400',
    '',
    '[fernet_tokens]',
    `key_repository = ${join(dir, 'fernet-keys')}`,
    '',
    '[fernet_receipts]',
    `key_repository = ${join(dir, 'fernet-keys')}`,
    '',
    '[credential]',
    `key_repository = ${join(dir, 'credential-keys')}`,
    '',
    // Keystone's own cache, in its one process: every trove-api request and every CLI login
    // validates a token, which otherwise reads assignments, roles and the catalog from sqlite
    // each time (seconds per answer on a busy machine). Writes invalidate it in-process.
    '[cache]',
    'enabled = true',
    'backend = dogpile.cache.memory',
    '',
    // bcrypt's cheapest cost: every password login (each `openstack` command) checks one hash,
    // ~0.5 s at the default 12 rounds on a busy test machine, in Keystone's single process.
    '[identity]',
    'password_hash_rounds = 4',
    '',
    '[oslo_concurrency]',
    `lock_path = ${join(dir, 'lock')}`,
    '',
  ].join('\n');
}

function uwsgiIni(dir: string, port: number, confPath: string): string {
  return [
    '[uwsgi]',
    'plugins = python3',
    `http-socket = 127.0.0.1:${port}`,
    `wsgi-file = ${KEYSTONE_WSGI}`,
    // sqlite: one writer; more workers or threads give `database is locked`.
    'processes = 1',
    'threads = 1',
    'master = true',
    'need-app = true',
    'die-on-term = true',
    'no-orphans = true',
    'buffer-size = 65535',
    // Clients must not reuse a connection uwsgi is about to close.
    'add-header = Connection: close',
    `chdir = ${dir}`,
    `env = OS_KEYSTONE_CONFIG_FILES=${confPath}`,
    '',
  ].join('\n');
}

function secret(): string {
  return randomBytes(18).toString('base64url');
}

/** Starts a private Keystone; ~10–20 s on two cores (db_sync dominates). */
export async function startKeystone(options: KeystoneOptions = {}): Promise<KeystoneFixture> {
  for (const bin of [KEYSTONE_MANAGE, KEYSTONE_WSGI, UWSGI]) {
    await access(bin).catch(() => {
      throw new Error(`${bin} is missing: run scripts/setup-test-env.sh (Debian keystone, uwsgi-core, uwsgi-plugin-python3)`);
    });
  }
  const dir = await mkdtemp(join(tmpdir(), 'k2hdkc-keystone-'));
  await chmod(dir, 0o700);
  let server: Managed | undefined;
  const stop = async (keep = false): Promise<void> => {
    if (server !== undefined) await stopProcess(server, 5000);
    server = undefined;
    if (!keep) await rm(dir, { recursive: true, force: true });
  };
  try {
    const confPath = join(dir, 'keystone.conf');
    await Promise.all(['fernet-keys', 'credential-keys', 'lock'].map((d) => mkdir(join(dir, d), { mode: 0o700 })));
    await writeFile(confPath, keystoneConf(dir), { mode: 0o600 });
    // A failure names the subcommand and keystone-manage's own output, never the arguments
    // (execFile's message would carry the bootstrap password); `secrets` are masked in that output.
    const manage = async (args: string[], secrets: string[] = []): Promise<void> => {
      try {
        await run(KEYSTONE_MANAGE, ['--config-file', confPath, ...args], { timeout: 180_000 });
      } catch (error) {
        const e = error as { code?: unknown; signal?: unknown; stderr?: unknown };
        let output = typeof e.stderr === 'string' ? e.stderr.slice(-2000) : '';
        for (const s of secrets) output = output.split(s).join('***');
        throw new Error(`keystone-manage ${args[0] ?? ''} failed (exit ${String(e.code ?? e.signal)}): ${output}`);
      }
    };
    await manage(['db_sync']);
    // WAL is a property of the database file: set once, every later connection uses it.
    await run(PYTHON, ['-c', 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("PRAGMA journal_mode=WAL"); c.close()', join(dir, 'keystone.sqlite')]);
    const uid = String(process.getuid?.() ?? 0);
    const gid = String(process.getgid?.() ?? 0);
    await manage(['fernet_setup', '--keystone-user', uid, '--keystone-group', gid]);
    await manage(['credential_setup', '--keystone-user', uid, '--keystone-group', gid]);

    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    const url = `${baseUrl}/v3`;
    const adminPassword = secret();
    // One argument with '=': a generated password may start with '-', which argparse would take for an option.
    await manage([
      'bootstrap', `--bootstrap-password=${adminPassword}`,
      '--bootstrap-username', 'admin', '--bootstrap-project-name', 'admin', '--bootstrap-role-name', 'admin',
      '--bootstrap-service-name', 'keystone', '--bootstrap-region-id', REGION,
      '--bootstrap-admin-url', url, '--bootstrap-public-url', url, '--bootstrap-internal-url', url,
    ], [adminPassword]);

    const iniPath = join(dir, 'uwsgi.ini');
    await writeFile(iniPath, uwsgiIni(dir, port, confPath), { mode: 0o600 });
    const started = startProcess('keystone', UWSGI, ['--ini', iniPath], { cwd: dir, logPath: join(dir, 'uwsgi.log') });
    server = started;
    await waitFor('keystone to answer', async () => {
      if (started.exitCode() !== undefined) throw new Error(`keystone (uwsgi) exited:\n${tail(started.logPath)}\n${tail(join(dir, 'keystone.log'))}`);
      const res = await axios.get(url, { timeout: 2000, validateStatus: () => true }).catch(() => undefined);
      return res?.status === 200 ? true : undefined;
    }, { timeoutMs: 90_000, intervalMs: 200 });

    const api = new KeystoneApi(url);
    const adminToken = await api.passwordToken('admin', adminPassword, 'admin');
    const admin: AxiosInstance = axios.create({ baseURL: url, headers: { 'X-Auth-Token': adminToken }, timeout: 30_000 });
    const ids = await api.setup(admin);
    const adminCreds: Credentials = { username: 'admin', password: adminPassword, project: 'admin', userId: ids.adminUser, projectId: ids.adminProject };
    const trove = await api.user(admin, 'trove', 'service', ids.serviceProject, [ids.roles.service, ids.roles.admin]);
    const demo = await api.user(admin, 'demo', 'demo', await api.project(admin, 'demo'), [ids.roles.member]);
    const addService = (service: CatalogService): Promise<void> => api.addService(admin, service);
    const addServiceUser = (name: string): Promise<Credentials> => api.user(admin, name, 'service', ids.serviceProject, [ids.roles.service, ids.roles.admin]);
    for (const service of options.services ?? []) await addService(service);
    return {
      url, baseUrl, dir, admin: adminCreds, trove, demo,
      token: (who) => api.passwordToken(who.username, who.password, who.project),
      addService,
      addServiceUser,
      logTail: () => `${tail(join(dir, 'uwsgi.log'), 2000)}\n${tail(join(dir, 'keystone.log'), 4000)}`,
      stop,
    };
  } catch (error) {
    await stop(true);
    throw new Error(`Keystone did not start (kept ${dir}): ${error instanceof Error ? error.message : String(error)}`);
  }
}

interface Named { id: string; name: string }

/** The few Keystone v3 calls an operator makes after bootstrap. */
class KeystoneApi {
  constructor(private readonly url: string) {}

  async passwordToken(username: string, password: string, project: string): Promise<string> {
    const res = await axios.post(`${this.url}/auth/tokens`, {
      auth: {
        identity: { methods: ['password'], password: { user: { name: username, domain: { id: 'default' }, password } } },
        scope: { project: { name: project, domain: { id: 'default' } } },
      },
    }, { timeout: 30_000, validateStatus: () => true });
    const token = res.headers['x-subject-token'];
    if (res.status !== 201 || typeof token !== 'string') throw new Error(`Keystone refused ${username}@${project}: HTTP ${res.status}`);
    return token;
  }

  async setup(admin: AxiosInstance): Promise<{ adminUser: string; adminProject: string; serviceProject: string; roles: Record<'admin' | 'member' | 'service', string> }> {
    const roles = (await admin.get<{ roles: Named[] }>('/roles')).data.roles;
    const role = (name: string): string | undefined => roles.find((r) => r.name === name)?.id;
    const service = role('service') ?? (await admin.post<{ role: Named }>('/roles', { role: { name: 'service' } })).data.role.id;
    const adminRole = role('admin');
    const member = role('member');
    if (adminRole === undefined || member === undefined) throw new Error('bootstrap did not create the admin and member roles');
    const adminUser = (await admin.get<{ users: Named[] }>('/users', { params: { name: 'admin' } })).data.users[0]?.id;
    const adminProject = (await admin.get<{ projects: Named[] }>('/projects', { params: { name: 'admin' } })).data.projects[0]?.id;
    if (adminUser === undefined || adminProject === undefined) throw new Error('bootstrap did not create the admin user and project');
    return { adminUser, adminProject, serviceProject: await this.project(admin, 'service'), roles: { admin: adminRole, member, service } };
  }

  async project(admin: AxiosInstance, name: string): Promise<string> {
    return (await admin.post<{ project: Named }>('/projects', { project: { name, domain_id: 'default', enabled: true } })).data.project.id;
  }

  async user(admin: AxiosInstance, name: string, projectName: string, projectId: string, roleIds: readonly string[]): Promise<Credentials> {
    const password = secret();
    const userId = (await admin.post<{ user: Named }>('/users', {
      user: { name, password, domain_id: 'default', default_project_id: projectId, enabled: true },
    })).data.user.id;
    for (const roleId of roleIds) await admin.put(`/projects/${projectId}/users/${userId}/roles/${roleId}`);
    return { username: name, password, project: projectName, userId, projectId };
  }

  async addService(admin: AxiosInstance, service: CatalogService): Promise<void> {
    const id = (await admin.post<{ service: Named }>('/services', { service: { type: service.type, name: service.name, enabled: true } })).data.service.id;
    for (const iface of ['public', 'internal', 'admin']) {
      await admin.post('/endpoints', { endpoint: { service_id: id, interface: iface, region_id: REGION, url: service.url, enabled: true } });
    }
  }
}
