import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { antpickaxProgram } from '../../helpers/antpickax';
import type { NodeNetwork } from '../../helpers/netns';
import { volumeBackingFile } from '../../doubles/openstack-compute/state';
import { attachLoop, detachLoop, refreshLoop, releaseStaleLoops, type LoopDevice } from './loop-devices';
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
  /** Restarts nova asked for (reboot, resize, revert resize); each one power-cycles the VM. */
  readonly power_cycles?: number;
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
  /** With `blockVolumes`: the loop device that is the VM's disk, and where the VM sees it. */
  readonly disk?: { readonly loop: LoopDevice; readonly devicePath: string };
}

export interface HypervisorOptions {
  /**
   * Each cinder volume is a real block device in the VM (a loop device over the compute
   * double's backing file, at the attachment's device path) and the agent formats and mounts it
   * (`manage_volume = true`); an extend reaches the VM (`losetup -c`). Default: a tmpfs of the
   * volume's size on the mount point and `manage_volume = false`.
   */
  readonly blockVolumes?: boolean;
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
 * agent's whole process group and removes the VM's network (the VM powers off); a reboot or
 * resize nova asked for (`power_cycles`) shuts the VM down the same way and boots it again.
 */
export class Hypervisor {
  readonly vms = new Map<string, Vm>();
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private readonly failures: string[] = [];

  constructor(
    private readonly cloudDir: string,
    private readonly agentEnv: NodeJS.ProcessEnv,
    private readonly network: NodeNetwork,
    private readonly options: HypervisorOptions = {},
  ) {}

  start(): void {
    if (this.options.blockVolumes === true) void releaseStaleLoops();
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
    // Once nothing in a VM holds its disk, the loop device goes back to the host.
    for (const vm of this.vms.values()) if (vm.disk !== undefined) await detachLoop(vm.disk.loop);
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
          if (vm?.disk !== undefined) await detachLoop(vm.disk.loop);
          this.setPower(server.id, 'DELETED');
        }
      } else if (vm === undefined && this.power(server.id) === null) {
        await this.boot(server);
      } else if (vm !== undefined && (server.power_cycles ?? 0) > this.powerCycles(server.id)) {
        await this.powerCycle(vm, server);
      } else if (vm?.disk !== undefined) {
        // cinder extended the volume's file: the VM's disk takes the new size.
        await refreshLoop(vm.disk.loop);
      }
    }
  }

  /**
   * A reboot or resize as the compute host carries it out: the guest shuts down (its init
   * stops the agent and the daemons: SIGTERM to the VM's processes, SIGKILL after a grace), the
   * VM's network and IPC go with it, then it boots again on what its disk keeps (its directory:
   * the agent's state, the INI, the injected configuration). Until the new boot nova shows the
   * task's status (REBOOT, RESIZE, ...).
   */
  private async powerCycle(vm: Vm, server: ServerRecord): Promise<void> {
    await stopProcess(vm.agent, 5000);
    await this.network.removeNode(server.address);
    // The VM's mount namespace is gone with its processes; boot attaches the volume again.
    if (vm.disk !== undefined) await detachLoop(vm.disk.loop);
    await this.boot(server);
  }

  /** The power cycles the host has carried out for a server (written with its power state). */
  private powerCycles(serverId: string): number {
    const file = path.join(this.cloudDir, 'power', `${serverId}.json`);
    if (!existsSync(file)) return 0;
    return (JSON.parse(readFileSync(file, 'utf8')) as { power_cycles?: number }).power_cycles ?? 0;
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
    const disk = this.options.blockVolumes === true ? await this.attachDisk(server) : undefined;
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
      ...(disk === undefined
        ? ['device_path = /dev/null-e2e', 'manage_volume = false']
        : [`device_path = ${disk.devicePath}`, 'manage_volume = true']),
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
      ...(disk === undefined ? [] : ['--block', disk.devicePath, disk.loop.majorMinor, path.join(vmDir, 'disk-scratch')]),
      process.execPath, AGENT_BIN, '--config-dir', confDir,
    ]);
    const agent = startProcess(`agent ${server.address}`, command, args, {
      cwd: vmDir,
      env: this.agentEnv,
      logPath: path.join(vmDir, 'agent.log'),
    });
    this.vms.set(server.id, { server, instanceId, confDir, iniPath, ...dirs, agent, ...(disk === undefined ? {} : { disk }) });
    this.setPower(server.id, 'ACTIVE', server.power_cycles ?? 0);
  }

  /** The server's first volume as a loop device, and the device path nova attached it at (Trove's device_path). */
  private async attachDisk(server: ServerRecord): Promise<Vm['disk']> {
    const id = server.volumes[0];
    if (id === undefined) return undefined;
    const record = JSON.parse(readFileSync(path.join(this.cloudDir, 'volumes', `${id}.json`), 'utf8')) as { attachments?: Array<{ device?: string }> };
    const loop = await attachLoop(volumeBackingFile(this.cloudDir, id));
    return { loop, devicePath: record.attachments?.[0]?.device ?? '/dev/vdb' };
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

  private setPower(serverId: string, status: string, powerCycles = this.powerCycles(serverId)): void {
    const dir = path.join(this.cloudDir, 'power');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${serverId}.json`);
    const updated = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    writeFileSync(`${file}.tmp`, JSON.stringify({ status, updated, power_cycles: powerCycles }), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  }
}
