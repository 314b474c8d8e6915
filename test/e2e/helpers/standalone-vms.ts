import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ComputeDouble, ServerRecord } from '../../doubles/openstack-compute';
import type { NetNode, NodeNetwork } from '../../helpers/netns';
import { REPO_ROOT } from './hypervisor';
import { startProcess, stopProcess, tail, type Managed } from './processes';

const AGENT_BIN = path.join(REPO_ROOT, 'bin', 'k2hdkc-trove-agent');
const STAND_INS = path.join(REPO_ROOT, 'test/doubles/chmpx');
const VM_EXEC = path.join(__dirname, 'vm-exec.sh');

/** One VM booted from a k2hdkc-dbaas user-data: the agent in standalone mode. */
export interface StandaloneVm {
  readonly server: ServerRecord;
  readonly mode: 'server' | 'slave';
  readonly iniPath: string;
  readonly agent: Managed;
}

/**
 * The compute host for VMs the k2hdkc-dbaas CLI boots through the nova double: as systemd does
 * on the guest image after cloud-init, it starts the real agent with
 * `--standalone --config-file /etc/k2hdkc-trove/<mode>.conf` (the file cloud-init wrote from the
 * user-data, below the VM's root), plus a last file with what the image and cloud-init's network
 * setup give a real VM: its instance id (cloud-init's /var/lib/cloud/data/instance-id), its
 * loopback address and name, its directories and the chmpx/k2hdkc stand-ins. Each VM has its own
 * network (a node of `network`, test/helpers/netns: chmpx takes as itself only a NAME on one of
 * the host's interfaces) and its own mount namespace whose /var/lib/antpickax is the VM's
 * directory (vm-exec.sh), as the Trove e2e's hypervisor does. `exposedPorts` (the servers'
 * control ports) lead from the VM's address on the host into the VM, for the CLI in the test
 * process. Deleting the server stops the VM's process group and removes its network.
 */
export class StandaloneVms {
  readonly vms = new Map<string, StandaloneVm>();
  readonly errors: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly compute: ComputeDouble,
    private readonly agentEnv: NodeJS.ProcessEnv,
    private readonly network: NodeNetwork,
    private readonly exposedPorts: readonly number[] = [],
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      this.tick().catch((error: unknown) => this.errors.push(String(error))).finally(() => { this.busy = false; });
    }, 150);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await Promise.all([...this.vms.values()].map((vm) => stopProcess(vm.agent, 3000)));
    // Daemons that outlived their agent go with the VM's namespace.
    for (const vm of this.vms.values()) await this.network.removeNode(vm.server.address);
  }

  /** The log of a VM's agent, for failure messages. */
  logOf(name: string): string {
    const vm = [...this.vms.values()].find((v) => v.server.name === name);
    return vm === undefined ? `(no VM ${name})` : tail(vm.agent.logPath);
  }

  private async tick(): Promise<void> {
    for (const server of this.compute.state.servers.values()) {
      const vm = this.vms.get(server.id);
      const power = this.compute.state.power(server.id)?.status;
      if (server.deleted) {
        if (power !== 'DELETED') {
          if (vm !== undefined) await stopProcess(vm.agent, 5000);
          await this.network.removeNode(server.address);
          this.setPower(server.id, 'DELETED');
        }
      } else if (vm === undefined && power === undefined) {
        await this.boot(server);
      }
    }
  }

  private async boot(server: ServerRecord): Promise<void> {
    const confFile = server.injected.find((f) => /^\/etc\/k2hdkc-trove\/(server|slave)\.conf$/.test(f));
    if (confFile === undefined) {
      this.errors.push(`${server.name}: its user-data wrote no agent configuration`);
      this.setPower(server.id, 'ERROR');
      return;
    }
    const mode = confFile.includes('/server.conf') ? 'server' : 'slave';
    const node = await this.network.addNode(server.address);
    await node.exposeOnHost(this.exposedPorts);
    const { agent, iniPath } = startStandaloneAgent({
      node,
      name: server.name,
      instanceId: server.id,
      address: server.address,
      vmDir: server.vm_dir,
      confFile: path.join(server.root, confFile),
      env: this.agentEnv,
    });
    this.vms.set(server.id, { server, mode, iniPath, agent });
    this.setPower(server.id, 'ACTIVE');
  }

  private setPower(id: string, status: string): void {
    const dir = path.join(this.compute.state.cloudDir, 'power');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${id}.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify({ status, updated: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }));
    renameSync(`${file}.tmp`, file);
  }
}

/**
 * Starts the agent of one standalone VM as systemd does on the guest image after cloud-init:
 * `--standalone --config-file <the user-data's agent configuration>`, then a file with what the
 * image and cloud-init's network setup give a real VM (instance id, address, name, directories,
 * the chmpx/k2hdkc stand-ins), in the VM's network `node` (its address on its own lo) and its
 * own mount namespace (vm-exec.sh).
 */
export function startStandaloneAgent(vm: {
  node: NetNode;
  name: string;
  instanceId: string;
  address: string;
  vmDir: string;
  confFile: string;
  env: NodeJS.ProcessEnv;
}): { agent: Managed; iniPath: string } {
  const dirs = {
    state: path.join(vm.vmDir, 'state'),
    run: path.join(vm.vmDir, 'run'),
    log: path.join(vm.vmDir, 'log'),
    antpickax: path.join(vm.vmDir, 'antpickax'),
  };
  for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const iniPath = path.join(vm.vmDir, 'k2hdkc.ini');
  const local = [
    '# What the image and cloud-init give a real VM: its id, address, name and directories.',
    '[DEFAULT]',
    `guest_id = ${vm.instanceId}`,
    '[k2hdkc]',
    `local_address = ${vm.address}`,
    `node_name = ${vm.address}`,
    `http_host = ${vm.address}`,
    `state_dir = ${dirs.state}`,
    'device_path = /dev/null-e2e',
    'raise_mqueue = false',
    'process_manager = supervisor',
    `chmpx_path = ${path.join(STAND_INS, 'chmpx')}`,
    `k2hdkc_path = ${path.join(STAND_INS, 'k2hdkc')}`,
    `ini_path = ${iniPath}`,
    `run_dir = ${dirs.run}`,
    `daemon_log_dir = ${dirs.log}`,
    'k2hr3_poll_seconds = 1',
    '',
  ].join('\n');
  const localFile = path.join(vm.vmDir, 'zz-vm.conf');
  writeFileSync(localFile, local, { mode: 0o600 });
  mkdirSync('/var/lib/antpickax', { recursive: true });
  const { command, args } = vm.node.command('unshare', [
    '--mount', '--propagation', 'private', '--', '/bin/sh', VM_EXEC, dirs.antpickax, '0',
    process.execPath, AGENT_BIN, '--standalone', '--config-file', vm.confFile, '--config-file', localFile,
  ]);
  const agent = startProcess(`agent ${vm.name}`, command, args, { cwd: vm.vmDir, env: vm.env, logPath: path.join(vm.vmDir, 'agent.log') });
  return { agent, iniPath };
}

/** The servers ([SVRNODE] NAME, or another key) of an INI file, sorted; [] when it is not there yet. */
export function iniServers(iniPath: string, key = 'NAME'): string[] {
  let text: string;
  try {
    text = readFileSync(iniPath, 'utf8');
  } catch {
    return [];
  }
  const names: string[] = [];
  let inServer = false;
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t.startsWith('[')) inServer = t === '[SVRNODE]';
    else if (inServer) {
      const m = new RegExp(`^${key}\\s*=\\s*(\\S+)`).exec(t);
      if (m?.[1]) names.push(m[1]);
    }
  }
  return names.sort();
}
