import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { antpickaxProgram } from '../../helpers/antpickax';
import type { NodeNetwork } from '../../helpers/netns';
import { startProcess, stopProcess, type Managed } from './processes';

export const REPO_ROOT = path.resolve(__dirname, '../../..');
const AGENT_BIN = path.join(REPO_ROOT, 'bin', 'k2hdkc-trove-agent');
const VM_EXEC = path.join(__dirname, 'vm-exec.sh');
/** Where the K2HDKC image keeps its data; every VM gets its own (a bind mount in its namespace). */
export const IMAGE_DATA_DIR = '/var/lib/antpickax';

/** What nova recorded for a server (test/doubles/openstack-compute, README "The hypervisor contract"). */
export interface ServerRecord {
  readonly id: string;
  readonly name: string;
  readonly address: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly vm_dir: string;
  readonly root: string;
  readonly injected: readonly string[];
  readonly volumes: readonly string[];
  readonly deleted: boolean;
}

/** One booted VM: its agent and the directories of its per-VM configuration. */
export interface Vm {
  readonly server: ServerRecord;
  readonly instanceId: string;
  readonly confDir: string;
  readonly iniPath: string;
  readonly runDir: string;
  readonly stateDir: string;
  /** chmpx.log, k2hdkc.log and the agent's own log (log_file). */
  readonly logDir: string;
  /** The host directory that is /var/lib/antpickax inside the VM. */
  readonly imageDataDir: string;
  readonly agent: Managed;
}

/** Trove's [k2hdkc] mount_point: the volume inside the VM. */
export const VOLUME_MOUNT_POINT = `${IMAGE_DATA_DIR}/k2hdkc`;

/**
 * A path inside the VM as the host sees it: /proc/<pid>/root resolves through the VM's mount
 * namespace (its volume is a tmpfs nobody else sees). Only while the VM runs.
 */
export function vmPath(vm: Vm, inside: string): string {
  const pid = vm.agent.child.pid;
  if (pid === undefined || vm.agent.exitCode() !== undefined) throw new Error(`VM ${vm.server.address} is not running`);
  return `/proc/${pid}/root${inside}`;
}

const POLL_MS = 150;

/**
 * Plays the compute hosts of the fake nova. A real VM boots its image, cloud-init writes the
 * injected files into /etc/trove/conf.d, and systemd starts the agent with
 * `--config-dir /etc/trove/conf.d`. Here the fake nova already wrote the files below the VM's
 * root; the hypervisor adds what the image and cloud-init's network setup give a real VM
 * (`zz-e2e-vm.conf`: its address, its directories, the chmpx/k2hdkc programs) and starts the
 * real agent on that directory. Each VM has its own network (a namespace of `network` whose lo
 * carries the VM's address, test/helpers/netns), so every VM's chmpx uses the template's ports
 * 8020/8021, and its own mount namespace whose /var/lib/antpickax is the VM's directory (the
 * INI's K2HFILE lives there, so VMs never share a data file). Deleting the server stops the
 * agent's whole process group and removes the VM's network (the VM powers off).
 */
export class Hypervisor {
  readonly vms = new Map<string, Vm>();
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private readonly failures: string[] = [];

  constructor(private readonly cloudDir: string, private readonly agentEnv: NodeJS.ProcessEnv, private readonly network: NodeNetwork) {}

  start(): void {
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      this.tick().catch((error: unknown) => this.failures.push(String(error))).finally(() => { this.busy = false; });
    }, POLL_MS);
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await Promise.all([...this.vms.values()].map((vm) => stopProcess(vm.agent, 3000)));
    // Daemons that outlived their agent go with the VM's namespace.
    for (const vm of this.vms.values()) await this.network.removeNode(vm.server.address);
  }

  /** Errors of the poll loop (a test reports them). */
  get errors(): readonly string[] {
    return this.failures;
  }

  /** The VM of a Trove instance (nova metadata trove_instance_id). */
  vmOf(instanceId: string): Vm | undefined {
    return [...this.vms.values()].find((vm) => vm.instanceId === instanceId);
  }

  private records(): ServerRecord[] {
    const dir = path.join(this.cloudDir, 'servers');
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((name) => name.endsWith('.json'))
      .map((name) => JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as ServerRecord);
  }

  private async tick(): Promise<void> {
    for (const server of this.records()) {
      const vm = this.vms.get(server.id);
      if (server.deleted) {
        if (this.power(server.id) !== 'DELETED') {
          if (vm !== undefined) await stopProcess(vm.agent, 5000);
          await this.network.removeNode(server.address);
          this.setPower(server.id, 'DELETED');
        }
      } else if (vm === undefined && this.power(server.id) === null) {
        await this.boot(server);
      }
    }
  }

  private async boot(server: ServerRecord): Promise<void> {
    const confDir = path.join(server.root, 'etc/trove/conf.d');
    const guestInfo = readFileSync(path.join(confDir, 'guest_info.conf'), 'utf8');
    const instanceId = /^guest_id=(.+)$/m.exec(guestInfo)?.[1] ?? server.metadata['trove_instance_id'] ?? server.id;
    const vmDir = server.vm_dir;
    const dirs = {
      stateDir: path.join(vmDir, 'state'),
      runDir: path.join(vmDir, 'run'),
      logDir: path.join(vmDir, 'log'),
      imageDataDir: path.join(vmDir, 'antpickax'),
    };
    for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true, mode: 0o700 });
    const iniPath = path.join(vmDir, 'k2hdkc.ini');
    const local = [
      '# What a real VM gets from its image and from cloud-init networking, not from Trove:',
      '# its own address and name, and where things live on its disk.',
      '[k2hdkc]',
      `local_address = ${server.address}`,
      `node_name = ${server.address}`,
      `http_host = ${server.address}`,
      'http_port = 0',
      `state_dir = ${dirs.stateDir}`,
      `mount_point = ${VOLUME_MOUNT_POINT}`,
      'device_path = /dev/null-e2e',
      'manage_volume = false',
      'raise_mqueue = false',
      'process_manager = supervisor',
      `chmpx_path = ${antpickaxProgram('chmpx')}`,
      `k2hdkc_path = ${antpickaxProgram('k2hdkc')}`,
      `ini_path = ${iniPath}`,
      `run_dir = ${dirs.runDir}`,
      `daemon_log_dir = ${dirs.logDir}`,
      // The image's agent logs to the journal; here there is no systemd, so to a file (the `guest` log).
      `log_file = ${path.join(dirs.logDir, 'k2hdkc-trove-agent.log')}`,
      '',
    ].join('\n');
    // Sorted after guest_info.conf and trove-guestagent.conf, so its values win (oslo order).
    const file = path.join(confDir, 'zz-e2e-vm.conf');
    writeFileSync(`${file}.tmp`, local, { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
    // The bind target must exist on the host; inside the namespace it is the VM's own directory.
    mkdirSync(IMAGE_DATA_DIR, { recursive: true });
    // The VM's network: its own namespace (lo with its address; the control plane at 127.0.0.1).
    const node = await this.network.addNode(server.address);
    const { command, args } = node.command('unshare', [
      '--mount', '--propagation', 'private', '--', '/bin/sh', VM_EXEC, dirs.imageDataDir, String(this.volumeSize(server)),
      process.execPath, AGENT_BIN, '--config-dir', confDir,
    ]);
    const agent = startProcess(`agent ${server.address}`, command, args, {
      cwd: vmDir,
      env: this.agentEnv,
      logPath: path.join(vmDir, 'agent.log'),
    });
    this.vms.set(server.id, { server, instanceId, confDir, iniPath, ...dirs, agent });
    this.setPower(server.id, 'ACTIVE');
  }

  /** The size (GB) of the server's first volume, as the fake cinder recorded it; 0 = none. */
  private volumeSize(server: ServerRecord): number {
    const id = server.volumes[0];
    if (id === undefined) return 0;
    const file = path.join(this.cloudDir, 'volumes', `${id}.json`);
    return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { size: number }).size : 0;
  }

  private power(serverId: string): string | null {
    const file = path.join(this.cloudDir, 'power', `${serverId}.json`);
    if (!existsSync(file)) return null;
    return (JSON.parse(readFileSync(file, 'utf8')) as { status: string }).status;
  }

  private setPower(serverId: string, status: string): void {
    const dir = path.join(this.cloudDir, 'power');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${serverId}.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify({ status, updated: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  }
}
