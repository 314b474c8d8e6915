import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import axios from 'axios';
import { waitFor } from '../../conformance/helpers/poll';
import { freePort } from '../../helpers/free-port';
import { NodeNetwork } from '../../helpers/netns';
import { K2hr3Double } from '../../doubles/k2hr3';
import { ComputeDouble, keystoneAuthenticator, type Flavor, type Image } from '../../doubles/openstack-compute';
import { startKeystone, type Credentials, type KeystoneFixture } from '../../keystone/fixture';
import { startSwift, type SwiftFixture } from '../../swift/fixture';
import { Hypervisor, REPO_ROOT } from './hypervisor';
import { OpenStackPasswordCli } from './openstack';
import { startProcess, stopAll, stopProcess, tail, type Managed } from './processes';
import { TroveRest } from './trove-rest';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const TOOLS_DIR = path.join(REPO_ROOT, 'test/e2e/tools');

/** A Keystone user with a project-scoped token of theirs (fetched when the control plane starts). */
export interface SignedIn extends Credentials {
  readonly token: string;
}

export interface ControlPlaneOptions {
  /** Install the bridge from datastore/ as an operator would (install.py into a temp site dir). */
  readonly bridge: boolean;
  /** Extra trove.conf lines per section, appended after the e2e defaults. */
  readonly troveConf?: Readonly<Record<string, readonly string[]>>;
  /**
   * Extra tokens the K2HR3 double accepts without asking Keystone (token -> user and project
   * names); every other token is checked at the control plane's Keystone, as K2HR3 does.
   */
  readonly keystone?: Readonly<Record<string, { user: string; projects: string[] }>>;
  /** Extra lines for the controller's guest config, per section. */
  readonly guestConf?: Readonly<Record<string, readonly string[]>>;
  /**
   * Put the config template where `datastore/install.py --system` does and trove-api's template
   * loader looks (/etc/trove/templates/k2hdkc/config.template: `configuration default` and
   * `detach` render it in trove-api); removed at stop only when this run put it there.
   */
  readonly systemTemplates?: boolean;
  /** Each volume a real block device in its VM, managed by the agent (hypervisor.ts). */
  readonly blockVolumes?: boolean;
}

/** Trove's default template_path, where install.py --system puts the config template. */
export const SYSTEM_TEMPLATES_DIR = '/etc/trove/templates';

function ini(sections: Record<string, readonly string[]>): string {
  return `${Object.entries(sections).map(([name, lines]) => [`[${name}]`, ...lines].join('\n')).join('\n\n')}\n`;
}

function merge(base: Record<string, string[]>, extra: Readonly<Record<string, readonly string[]>> | undefined): Record<string, string[]> {
  for (const [section, lines] of Object.entries(extra ?? {})) (base[section] ??= []).push(...lines);
  return base;
}

/**
 * A Trove control plane on one machine: Debian's trove-api, trove-taskmanager and
 * trove-conductor on a sqlite database and a private RabbitMQ vhost, authenticating at Debian's
 * Keystone (test/keystone) with keystonemiddleware's authtoken from Trove's shipped
 * api-paste.ini; nova, cinder, glance and neutron are the HTTP double of
 * test/doubles/openstack-compute, reached by Trove's own clients through the catalog; Swift is
 * real and behind Keystone (test/swift); the K2HR3 API is the spec double, checking users' tokens
 * at the same Keystone; VMs are booted by the Hypervisor, which runs the real agent.
 */
const FLAVORS: Flavor[] = [
  { id: '10', name: 'k2hdkc.small', ram: 512, vcpus: 1, disk: 5, ephemeral: 0 },
  { id: '11', name: 'k2hdkc.medium', ram: 1024, vcpus: 2, disk: 10, ephemeral: 0 },
];
const IMAGES: Image[] = [
  { id: '5d3a8ea5-0000-4000-8000-00000000e2e1', name: 'k2hdkc-guest', status: 'active', tags: ['trove', 'k2hdkc'], created_at: '2026-01-01T00:00:00Z' },
];

export class ControlPlane {
  readonly dir: string;
  readonly cloudDir: string;
  readonly confPath: string;
  readonly guestConfPath: string;
  /** The site directory the bridge is installed into (on the services' PYTHONPATH). */
  readonly bridgeSite: string;
  readonly templatesDir: string;
  readonly vhost = `k2hdkc-e2e-${process.pid}-${randomUUID().slice(0, 8)}`;
  readonly addressPrefix = `127.${100 + (process.pid % 100)}.${process.pid % 250}`;
  /** The K2HR3 double (made once Keystone's URL is known: it validates users' tokens there). */
  k2hr3!: K2hr3Double;
  swift!: SwiftFixture;
  keystone!: KeystoneFixture;
  compute!: ComputeDouble;
  /** The `openstack` CLI with a user's password (OS_* variables). */
  cli!: OpenStackPasswordCli;
  /** Cheap trove-api reads for polling. */
  rest!: TroveRest;
  /** Keystone's `demo` member user with a token of its project (the cloud's user in the tests). */
  demo!: SignedIn;
  hypervisor!: Hypervisor;
  /** The VMs' networks: one namespace per VM, the control plane's ports forwarded into each. */
  network: NodeNetwork | null = null;
  apiUrl = '';
  /** Set by `step` when a test failed: the report is printed and the directory kept. */
  failed = false;
  private readonly startedAt = Date.now();
  /** What this run added below /etc/trove/templates (systemTemplates), deepest first, for stop. */
  private readonly placedTemplates: string[] = [];
  private readonly services: Managed[] = [];
  private readonly transcript: string[] = [];
  private readonly env: NodeJS.ProcessEnv;

  constructor(private readonly options: ControlPlaneOptions) {
    this.dir = mkdtempSync(path.join(tmpdir(), 'k2hdkc-e2e-'));
    chmodSync(this.dir, 0o700);
    this.cloudDir = path.join(this.dir, 'cloud');
    this.confPath = path.join(this.dir, 'etc/trove.conf');
    this.guestConfPath = path.join(this.dir, 'etc/trove-guestagent.conf');
    this.templatesDir = options.systemTemplates === true ? SYSTEM_TEMPLATES_DIR : path.join(this.dir, 'etc/templates');
    mkdirSync(this.cloudDir, { recursive: true });
    mkdirSync(path.join(this.dir, 'etc'), { recursive: true });
    mkdirSync(path.join(this.dir, 'log'), { recursive: true });
    this.bridgeSite = path.join(this.dir, 'bridge-site');
    this.env = {
      ...process.env,
      PYTHONPATH: options.bridge ? this.bridgeSite : '',
      PYTHONDONTWRITEBYTECODE: '1',
    };
  }

  get transportUrl(): string {
    return `rabbit://guest:guest@127.0.0.1:5672/${encodeURIComponent(this.vhost)}`;
  }

  /** Every CLI command run so far with its exit code (printed on failure). */
  get commands(): readonly string[] {
    return this.transcript;
  }

  async start(): Promise<void> {
    const k2hr3Url = await this.startCloud();
    if (this.options.bridge) await this.installBridge();
    // Schema through Trove's own migration code (trove-manage db_sync crashes on Python 3.11).
    await run(PYTHON, [path.join(TOOLS_DIR, 'db_sync.py'), this.confPath], { env: this.env, timeout: 120_000 });
    for (const name of ['trove-api', 'trove-taskmanager', 'trove-conductor']) {
      this.services.push(startProcess(name, `/usr/bin/${name}`, ['--config-file', this.confPath], {
        env: this.env,
        cwd: this.dir,
        logPath: path.join(this.dir, 'log', `${name}.stdout.log`),
      }));
    }
    // What a VM reaches of the control plane, at the same 127.0.0.1 URLs as here: the broker,
    // K2HR3, Swift and Keystone (the agent asks it for the project of the user's token); Trove's
    // API and services are reached only through the broker.
    const forward = [5672, Number(new URL(k2hr3Url).port), Number(new URL(this.swift.url).port), Number(new URL(this.keystone.url).port)];
    this.network = await NodeNetwork.create({ forward });
    this.hypervisor = new Hypervisor(this.cloudDir, { ...process.env, NODE_OPTIONS: '' }, this.network, { blockVolumes: this.options.blockVolumes === true });
    this.hypervisor.start();
    this.rest = new TroveRest(this.apiUrl);
    await waitFor('trove-api to answer', async () => {
      this.assertServicesRunning();
      const res = await axios.get(`${this.apiUrl}/`, { timeout: 2000, validateStatus: () => true });
      return res.status === 200 ? true : undefined;
    }, { timeoutMs: 90_000, intervalMs: 250 });
    await Promise.all(['e2e-taskmanager', 'e2e-conductor'].map((queue) => waitFor(`a consumer on ${queue}`, async () => {
      this.assertServicesRunning();
      return (await this.consumers(queue)) > 0 ? true : undefined;
    }, { timeoutMs: 90_000, intervalMs: 250 })));
  }

  /**
   * Keystone first (Swift's, K2HR3's and the double's tokens are validated there), then Swift
   * behind it, the K2HR3 double and the compute double, then the catalog an operator registers:
   * identity (bootstrap), database, object-store, compute, volumev3, network, image.
   */
  private async startCloud(): Promise<string> {
    const [port, keystone] = await Promise.all([freePort(), startKeystone(), this.createVhost()]);
    this.keystone = keystone;
    this.apiUrl = `http://127.0.0.1:${port}`;
    // K2HR3 checks a user's token at Keystone, as a real K2HR3 configured for this cloud does: a
    // node self-provisions with the token of the user who launched it (e.g. in the Dashboard).
    this.k2hr3 = new K2hr3Double({ keystone: { ...this.options.keystone }, keystoneUrl: keystone.url });
    const [swiftUser, novaUser, adminToken, demoToken] = await Promise.all([
      keystone.addServiceUser('swift'), keystone.addServiceUser('nova'), keystone.token(keystone.admin), keystone.token(keystone.demo),
    ]);
    this.demo = { ...keystone.demo, token: demoToken };
    this.compute = new ComputeDouble({
      cloudDir: this.cloudDir,
      flavors: FLAVORS,
      images: IMAGES,
      // UUIDs: trove-api's schema refuses any other network id (the Dashboard sends it as net-id).
      network: { id: 'e2e0e2e0-0000-4000-8000-000000000071', name: 'e2e-net', subnetId: 'e2e0e2e0-0000-4000-8000-000000000072', addressPrefix: this.addressPrefix, addressFirst: 10 },
      authenticate: keystoneAuthenticator({ url: keystone.url, username: novaUser.username, password: novaUser.password, project: novaUser.project }),
      keystoneUrl: keystone.baseUrl,
    });
    const [swift, k2hr3Url] = await Promise.all([
      startSwift({ keystone: { baseUrl: keystone.baseUrl, username: swiftUser.username, password: swiftUser.password, probe: { token: adminToken, projectId: keystone.admin.projectId } } }),
      this.k2hr3.start(),
      this.compute.start(),
    ]);
    this.swift = swift;
    for (const service of [
      { type: 'database', name: 'trove', url: `${this.apiUrl}/v1.0/$(project_id)s` },
      { type: 'object-store', name: 'swift', url: `${this.swiftBase}$(project_id)s` },
      ...this.compute.catalog(),
    ]) await keystone.addService(service);
    this.cli = new OpenStackPasswordCli(keystone.url, (line) => this.transcript.push(line));
    this.writeConfigs(port, k2hr3Url, keystone);
    return k2hr3Url;
  }

  /** Swift's storage URL without the project id (`.../v1/AUTH_`). */
  get swiftBase(): string {
    return this.swift.url.replace(/AUTH_[^/]+$/, 'AUTH_');
  }

  /** A project's own Swift account (`.../v1/AUTH_<project id>`). */
  swiftAccount(projectId: string): string {
    return `${this.swiftBase}${projectId}`;
  }

  /**
   * Wraps a test body so that a failure marks the run failed (`finish` then prints the report
   * and keeps the directory).
   */
  step<T>(fn: () => Promise<T>): () => Promise<T> {
    return async () => {
      try {
        return await fn();
      } catch (error) {
        this.failed = true;
        throw error;
      }
    };
  }

  /** The end of a test file: the report when a step failed, the wall time, then `stop`. */
  async finish(label: string): Promise<void> {
    if (this.failed) console.log(this.report());
    const cli = this.cli?.spent;
    const inCli = cli === undefined ? '' : `, ${cli.commands} openstack commands in ${Math.round(cli.ms / 1000)} s`;
    console.log(`${label} wall time ${Math.round((Date.now() - this.startedAt) / 1000)} s${inCli}`);
    await this.stop(this.failed);
  }

  /** The operator's registration of k2hdkc in Trove's database (datastore/README.md). */
  async registerDatastore(): Promise<void> {
    await this.bridgeCommand('k2hdkc_trove_bridge.registration', ['--config-file', this.confPath, '--db-sync']);
  }

  /** Consumers on a queue of the run's vhost; 0 while it does not exist. */
  private async consumers(queue: string): Promise<number> {
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:5672/${encodeURIComponent(this.vhost)}`);
    try {
      const ch = await conn.createChannel();
      // checkQueue on a missing queue closes the channel with 404: that is "none yet".
      ch.on('error', () => undefined);
      return await ch.checkQueue(queue).then((q) => q.consumerCount, () => 0);
    } finally {
      await conn.close().catch(() => undefined);
    }
  }

  /** Throws with the service's log tail when one of the three services died. */
  assertServicesRunning(): void {
    for (const service of this.services) {
      if (service.exitCode() !== undefined) {
        throw new Error(`${service.name} exited (${String(service.exitCode())}):\n${tail(service.logPath)}\n${tail(this.logPath(service.name))}`);
      }
    }
  }

  logPath(service: string): string {
    return path.join(this.dir, 'log', `${service}.log`);
  }

  /** Everything a failing test should print: the CLI transcript and the tails of every log. */
  report(): string {
    const parts = [`e2e directory: ${this.dir}`, 'CLI transcript:', ...this.transcript.slice(-60)];
    if (this.keystone !== undefined) parts.push('--- keystone (tail)', this.keystone.logTail());
    for (const name of ['trove-api', 'trove-taskmanager', 'trove-conductor']) {
      parts.push(`--- ${name}.log (tail)`, tail(this.logPath(name), 5000));
    }
    for (const vm of this.hypervisor?.vms.values() ?? []) {
      parts.push(`--- agent ${vm.server.address} (${vm.instanceId})`, tail(vm.agent.logPath, 3000));
    }
    if ((this.hypervisor?.errors.length ?? 0) > 0) parts.push('hypervisor errors:', ...this.hypervisor.errors);
    return parts.join('\n');
  }

  /** Stops every process, removes the vhost; keeps the directory when `keep` (a test failed). */
  async stop(keep: boolean): Promise<void> {
    await this.hypervisor?.stop().catch(() => undefined);
    await this.network?.close().catch(() => undefined);
    await Promise.all(this.services.map((s) => stopProcess(s, 5000)));
    await stopAll();
    await Promise.all([
      this.swift?.stop().catch(() => undefined),
      this.compute?.stop().catch(() => undefined),
      this.keystone?.stop(keep).catch(() => undefined),
      this.k2hr3?.stop().catch(() => undefined),
      run('rabbitmqctl', ['-q', 'delete_vhost', this.vhost]).catch(() => undefined),
    ]);
    this.removePlacedTemplates();
    if (!keep) rmSync(this.dir, { recursive: true, force: true });
  }

  /** Removes the template files and directories this run added below /etc/trove/templates. */
  private removePlacedTemplates(): void {
    for (const placed of this.placedTemplates.splice(0)) {
      try {
        if (placed.endsWith('.template')) rmSync(placed, { force: true });
        else rmdirSync(placed);
      } catch {
        // a directory someone else filled meanwhile stays
      }
    }
  }

  /** Ids of the servers nova holds that are not deleted. */
  liveServers(): string[] {
    const dir = path.join(this.cloudDir, 'servers');
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((n) => n.endsWith('.json'))
      .map((n) => JSON.parse(readFileSync(path.join(dir, n), 'utf8')) as { id: string; deleted: boolean })
      .filter((s) => !s.deleted)
      .map((s) => s.id);
  }

  /** datastore/install.py, exactly as datastore/README.md tells an operator (into a temp site). */
  private async installBridge(): Promise<void> {
    if (this.options.systemTemplates === true) {
      const dir = path.join(this.templatesDir, 'k2hdkc');
      const file = path.join(dir, 'config.template');
      // Deepest first: the file, then the directories install.py creates, if they are new.
      for (const entry of [file, dir, this.templatesDir]) if (!existsSync(entry)) this.placedTemplates.push(entry);
    }
    await run(PYTHON, [
      path.join(REPO_ROOT, 'datastore/install.py'), '--target', this.bridgeSite,
      '--templates-dir', this.templatesDir, '--cloudinit-dir', path.join(this.dir, 'etc/cloudinit'),
    ], { env: this.env, timeout: 60_000 });
  }

  /** Trove's own row of a backup (the API does not show the checksum). */
  async backupRow(id: string): Promise<{ state: string; size: number; checksum: string | null; location: string | null } | null> {
    const { stdout } = await run(PYTHON, [path.join(TOOLS_DIR, 'backup_row.py'), path.join(this.dir, 'trove.sqlite'), id], { timeout: 30_000 });
    return JSON.parse(stdout) as { state: string; size: number; checksum: string | null; location: string | null } | null;
  }

  /** Runs a bridge command (`python3 -m <module> args`) with the services' environment. */
  async bridgeCommand(module: string, args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
    return run(PYTHON, ['-m', module, ...args], { env: this.env, cwd: this.dir, timeout: 120_000 });
  }

  private async createVhost(): Promise<void> {
    await run('rabbitmqctl', ['-q', 'add_vhost', this.vhost]);
    await run('rabbitmqctl', ['-q', 'set_permissions', '-p', this.vhost, 'guest', '.*', '.*', '.*']);
  }

  /**
   * trove.conf: Debian's shipped /etc/trove/api-paste.ini (authtoken from keystonemiddleware),
   * `[keystone_authtoken]` and `[service_credentials]` as the install guide writes them, Trove's
   * default (admin) nova/cinder/neutron/glance clients finding their endpoints in the catalog,
   * Swift from the user's catalog; and the controller's guest config.
   */
  private writeConfigs(port: number, k2hr3Url: string, keystone: KeystoneFixture): void {
    const bridge = this.options.bridge;
    const trove = keystone.trove;
    const conf = merge({
      DEFAULT: [
        'debug = True',
        `log_dir = ${path.join(this.dir, 'log')}`,
        'bind_host = 127.0.0.1',
        `bind_port = ${port}`,
        'trove_api_workers = 1',
        'api_paste_config = /etc/trove/api-paste.ini',
        `transport_url = ${this.transportUrl}`,
        'control_exchange = trove',
        'taskmanager_queue = e2e-taskmanager',
        'conductor_queue = e2e-conductor',
        'trove_conductor_workers = 1',
        'inst_rpc_key_encr_key = e2e-controller-secret-0123456789abcdef',
        `guest_config = ${this.guestConfPath}`,
        `injected_config_location = /etc/trove/conf.d`,
        `cloudinit_location = ${path.join(this.dir, 'etc/cloudinit')}`,
        'trove_security_groups_support = False',
        'trove_volume_support = True',
        // The shipped pipeline rate-limits; the tests poll more often than a person clicks.
        'http_get_rate = 100000',
        'http_post_rate = 100000',
        'http_put_rate = 100000',
        'http_delete_rate = 100000',
        'http_mgmt_post_rate = 100000',
        'usage_sleep_time = 1',
        'state_change_poll_time = 1',
        'agent_call_low_timeout = 15',
        'agent_call_high_timeout = 60',
        'agent_heartbeat_expiry = 60',
        'server_delete_time_out = 60',
        'usage_timeout = 240',
        'restore_usage_timeout = 240',
        'cluster_usage_timeout = 300',
        'reboot_time_out = 60',
        'resize_time_out = 60',
        'exists_notification_interval = 0',
        'max_accepted_volume_size = 10',
        ...(bridge ? ['config_source = k2hdkc_bridge', `template_path = ${this.templatesDir}/`] : []),
      ],
      database: [`connection = sqlite:///${path.join(this.dir, 'trove.sqlite')}`],
      keystone_authtoken: [
        `www_authenticate_uri = ${keystone.baseUrl}`,
        `auth_url = ${keystone.baseUrl}`,
        'auth_type = password',
        'project_domain_name = Default',
        'user_domain_name = Default',
        `project_name = ${trove.project}`,
        `username = ${trove.username}`,
        `password = ${trove.password}`,
        'region_name = RegionOne',
      ],
      service_credentials: [
        `auth_url = ${keystone.url}`,
        `username = ${trove.username}`,
        `password = ${trove.password}`,
        `project_name = ${trove.project}`,
        `project_id = ${trove.projectId}`,
        'user_domain_name = Default',
        'project_domain_name = Default',
        'region_name = RegionOne',
      ],
      oslo_messaging_notifications: ['driver = noop'],
      oslo_concurrency: [`lock_path = ${path.join(this.dir, 'lock')}`],
      ...(bridge ? { k2hdkc_bridge: ['driver = k2hdkc_bridge'] } : {}),
    }, this.options.troveConf);
    writeFileSync(this.confPath, ini(conf), { mode: 0o600 });
    this.writeGuestConf(k2hr3Url);
  }

  private writeGuestConf(k2hr3Url: string): void {
    // The controller's guest config: injected verbatim into every VM by the taskmanager.
    const guest = merge({
      DEFAULT: [
        `transport_url = ${this.transportUrl}`,
        'control_exchange = trove',
        'conductor_queue = e2e-conductor',
        'report_interval = 3',
      ],
      k2hdkc: [
        `k2hr3_api_url = ${k2hr3Url}`,
        'log_level = debug',
        'prepare_timeout_seconds = 60',
        'health_poll_ms = 100',
        'shutdown_grace_seconds = 3',
      ],
    }, this.options.guestConf);
    writeFileSync(this.guestConfPath, ini(guest), { mode: 0o600 });
  }
}
