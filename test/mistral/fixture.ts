/*
 * A real Mistral for tests: Debian's mistral-api/engine/executor (python3-mistral 15) as one
 * `mistral-server --server all` on loopback, a private MariaDB database (the machine's server at
 * 127.0.0.1:3306, root, no password) and a private RabbitMQ vhost, schema by Mistral's own
 * `mistral-db-manage upgrade head` + `populate`. Without `keystone`, Mistral runs with
 * `[pecan] auth_enable = false` (registration and API tests); with it, tokens are checked by
 * keystonemiddleware and cron triggers get trusts.
 *
 * Learned running it: mistral-server ignores SIGTERM for a long time and respawns its API
 * workers, so the whole process group is killed; keystonemiddleware's www_authenticate_uri must
 * end in /v3, or trust creation answers 404.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { access, chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import axios from 'axios';
import { waitFor } from '../conformance/helpers/poll';
import { startProcess, stopProcess, tail, type Managed } from '../e2e/helpers/processes';
import { freePort } from '../helpers/free-port';

const run = promisify(execFile);
const MISTRAL_SERVER = '/usr/bin/mistral-server';
const MISTRAL_DB_MANAGE = '/usr/bin/mistral-db-manage';
const MYSQL = '/usr/bin/mysql';

/** What Mistral needs of a Keystone: where it is and the service user that checks tokens. */
export interface MistralKeystone {
  /** `http://127.0.0.1:P` */
  readonly baseUrl: string;
  readonly service: { readonly username: string; readonly password: string; readonly project: string };
}

export interface MistralOptions {
  readonly keystone?: MistralKeystone;
}

export interface MistralFixture {
  /** `http://127.0.0.1:P/v2` */
  readonly url: string;
  readonly dir: string;
  readonly database: string;
  readonly vhost: string;
  logTail(): string;
  stop(keep?: boolean): Promise<void>;
}

function mistralConf(dir: string, port: number, database: string, vhost: string, keystone: MistralKeystone | undefined): string {
  const lines = [
    '[DEFAULT]',
    `transport_url = rabbit://guest:guest@127.0.0.1:5672/${encodeURIComponent(vhost)}`,
    `log_file = ${join(dir, 'mistral.log')}`,
    'use_stderr = false',
    '',
    '[api]',
    'host = 127.0.0.1',
    `port = ${port}`,
    'api_workers = 1',
    '',
    '[database]',
    `connection = mysql+pymysql://root@127.0.0.1:3306/${database}`,
    '',
    '[cron_trigger]',
    // How often the engine looks for due triggers (seconds); the default is fine, said for clarity.
    'execution_interval = 1',
    '',
    '[oslo_concurrency]',
    `lock_path = ${join(dir, 'lock')}`,
    '',
    '[pecan]',
    `auth_enable = ${keystone === undefined ? 'false' : 'true'}`,
    '',
  ];
  if (keystone === undefined) {
    // Without Keystone no request is admin, and publishing a workflow is admin-only: this
    // policy file lets the test's requests do what the operator's admin does.
    lines.push('[oslo_policy]', `policy_file = ${join(dir, 'policy.yaml')}`, '');
  }
  if (keystone !== undefined) {
    lines.push(
      '[keystone_authtoken]',
      `www_authenticate_uri = ${keystone.baseUrl}/v3`,
      `auth_url = ${keystone.baseUrl}`,
      'auth_type = password',
      `username = ${keystone.service.username}`,
      `password = ${keystone.service.password}`,
      `project_name = ${keystone.service.project}`,
      'user_domain_id = default',
      'project_domain_id = default',
      'region_name = RegionOne',
      '',
    );
  }
  return lines.join('\n');
}

async function sql(statement: string): Promise<void> {
  await run(MYSQL, ['-h', '127.0.0.1', '-P', '3306', '-u', 'root', '-e', statement], { timeout: 30_000 });
}

/** Starts a private Mistral; a few seconds once the schema is in (upgrade head dominates). */
export async function startMistral(options: MistralOptions = {}): Promise<MistralFixture> {
  for (const bin of [MISTRAL_SERVER, MISTRAL_DB_MANAGE, MYSQL]) {
    await access(bin).catch(() => {
      throw new Error(`${bin} is missing: run scripts/setup-test-env.sh (Debian mistral-api, mistral-engine, mistral-executor, mariadb-server)`);
    });
  }
  const dir = await mkdtemp(join(tmpdir(), 'k2hdkc-mistral-'));
  await chmod(dir, 0o700);
  const id = randomUUID().replace(/-/g, '').slice(0, 12);
  const database = `k2hdkc_mistral_${process.pid}_${id}`;
  const vhost = `k2hdkc-mistral-${process.pid}-${id}`;
  let server: Managed | undefined;
  let dbCreated = false;
  let vhostCreated = false;
  const stop = async (keep = false): Promise<void> => {
    // mistral-server ignores SIGTERM: a short grace, then the group is killed.
    if (server !== undefined) await stopProcess(server, 1000);
    server = undefined;
    if (dbCreated) await sql(`DROP DATABASE IF EXISTS \`${database}\``).catch(() => undefined);
    if (vhostCreated) await run('rabbitmqctl', ['-q', 'delete_vhost', vhost]).catch(() => undefined);
    if (!keep) await rm(dir, { recursive: true, force: true });
  };
  try {
    await mkdir(join(dir, 'lock'), { mode: 0o700 });
    const port = await freePort();
    const confPath = join(dir, 'mistral.conf');
    await writeFile(confPath, mistralConf(dir, port, database, vhost, options.keystone), { mode: 0o600 });
    if (options.keystone === undefined) await writeFile(join(dir, 'policy.yaml'), '"workflows:publicize": ""\n', { mode: 0o600 });
    await sql(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4`);
    dbCreated = true;
    await run('rabbitmqctl', ['-q', 'add_vhost', vhost]);
    vhostCreated = true;
    await run('rabbitmqctl', ['-q', 'set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*']);
    const manage = (args: string[]): Promise<unknown> => run(MISTRAL_DB_MANAGE, ['--config-file', confPath, ...args], { timeout: 300_000, cwd: dir });
    await manage(['upgrade', 'head']);
    await manage(['populate']);

    const started = startProcess('mistral', MISTRAL_SERVER, ['--config-file', confPath, '--server', 'all'], { cwd: dir, logPath: join(dir, 'server.log') });
    server = started;
    const url = `http://127.0.0.1:${port}/v2`;
    await waitFor('mistral-api to answer', async () => {
      if (started.exitCode() !== undefined) throw new Error(`mistral-server exited:\n${tail(started.logPath)}\n${tail(join(dir, 'mistral.log'))}`);
      const res = await axios.get(`http://127.0.0.1:${port}/`, { timeout: 2000, validateStatus: () => true }).catch(() => undefined);
      return res?.status === 200 ? true : undefined;
    }, { timeoutMs: 90_000, intervalMs: 200 });
    return {
      url, dir, database, vhost,
      logTail: () => `${tail(started.logPath, 2000)}\n${tail(join(dir, 'mistral.log'), 6000)}`,
      stop,
    };
  } catch (error) {
    await stop(true);
    throw new Error(`Mistral did not start (kept ${dir}): ${error instanceof Error ? error.message : String(error)}`);
  }
}
