import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { NodeNetwork, type NetNode } from '../../helpers/netns';
import { loopbackUrlPorts, ownLoopbackListeners } from '../../helpers/netns/host-ports';
import { AgentProcess, writeAgentConfig, type AgentFiles } from './agent-process';
import { deleteQueues, TRANSPORT_URL } from './rabbit';
import { TroveHarness } from './trove-harness';

export const CONTROL_EXCHANGE = 'trove';

/** Where the AntPickax programs keep their files on a VM (the template's K2HFILE lives below it). */
const ANTPICKAX_DIR = '/var/lib/antpickax';
/** Mounts the mqueue file system of the current IPC namespace on /dev/mqueue, then execs its arguments. */
const OWN_MQUEUE = 'mount -t mqueue mqueue /dev/mqueue && exec "$@"';
/** Binds a VM's own directory over /var/lib/antpickax inside a private mount namespace, then execs. */
const VM_EXEC = path.resolve(__dirname, '../../e2e/helpers/vm-exec.sh');

export interface Guest {
  readonly id: string;
  readonly tenantId: string;
  readonly key: string | null;
  readonly queue: string;
  readonly files: AgentFiles;
}

/** A random 32-character [A-Za-z0-9] key, like Trove's generate_random_key. */
export function instanceKey(): string {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(32)].map((b) => chars[b % chars.length]).join('');
}

/**
 * Per-file conformance environment: a temp dir, one Trove harness (client + sqlite DB), a real
 * trove-conductor on a conductor queue of its own, and the guests/agents the tests create.
 * A guest whose [k2hdkc] options name a `local_address` is a node ("VM") of its own: its agent
 * (and the chmpx/k2hdkc it starts) runs in a network namespace where that address is on lo
 * (test/helpers/netns), so every node uses the same ports, as on real VMs. The control plane
 * (RabbitMQ, the doubles this process runs) is reachable there at the same 127.0.0.1 URLs, and
 * rawCtlport reaches the node's ports from the test.
 */
export class ConformanceEnv {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'k2hdkc-conf-'));
  readonly conductorQueue = `trove-conductor-test-${randomUUID().slice(0, 8)}`;
  private troveHarness: TroveHarness | null = null;
  private readonly agents: AgentProcess[] = [];
  private readonly guests: Guest[] = [];
  private nodeNetwork: NodeNetwork | null = null;
  private readonly guestNodes = new Map<string, NetNode>();
  private readonly guestDataDirs = new Map<string, string>();

  /** The Trove harness process; exists from start() on. */
  get harness(): TroveHarness {
    if (this.troveHarness === null) throw new Error('ConformanceEnv.start() has not run');
    return this.troveHarness;
  }

  async start(options: { conductor: boolean }): Promise<this> {
    this.troveHarness = new TroveHarness(path.join(this.dir, 'trove'));
    await this.harness.init({
      transportUrl: TRANSPORT_URL,
      controlExchange: CONTROL_EXCHANGE,
      conductorQueue: this.conductorQueue,
    });
    if (options.conductor) await this.harness.startConductor();
    return this;
  }

  /** A new instance row (status `new`) and agent config files; key null = plain RPC. */
  async addGuest(options: {
    secure: boolean;
    mountPoint?: string;
    reportInterval?: number;
    /** Extra [k2hdkc] options (see writeAgentConfig). */
    k2hdkc?: Readonly<Record<string, string>>;
    /** A fixed instance id (the K2HDKC tests need it before the agent config exists). */
    id?: string;
    /** The instance's project (Keystone project id); default one of its own. */
    tenantId?: string;
    /**
     * A node's own /var/lib/antpickax (a host directory, bound there in the node's own mount
     * namespace, as the e2e hypervisor does for a VM): the template's fixed K2HFILE and chmpx's
     * files are then the node's own. Needs a `local_address`.
     */
    antpickaxDir?: string;
  }): Promise<Guest> {
    const id = options.id ?? randomUUID();
    const tenantId = options.tenantId ?? `tenant-${id.slice(0, 8)}`;
    const key = options.secure ? instanceKey() : null;
    await this.harness.addInstance(id, key, tenantId);
    const files = writeAgentConfig(path.join(this.dir, `guest-${id.slice(0, 8)}`), {
      guestId: id,
      tenantId,
      key,
      transportUrl: TRANSPORT_URL,
      controlExchange: CONTROL_EXCHANGE,
      conductorQueue: this.conductorQueue,
      reportInterval: options.reportInterval ?? 2,
      ...(options.mountPoint === undefined ? {} : { mountPoint: options.mountPoint }),
      ...(options.k2hdkc === undefined ? {} : { k2hdkc: options.k2hdkc }),
    });
    const guest = { id, tenantId, key, queue: `guestagent.${id}`, files };
    this.guests.push(guest);
    const address = options.k2hdkc?.['local_address'];
    if (address !== undefined && address !== '127.0.0.1') {
      this.guestNodes.set(id, await this.node(address, Object.values(options.k2hdkc ?? {}).join('\n')));
    }
    if (options.antpickaxDir !== undefined) {
      if (!this.guestNodes.has(id)) throw new Error('antpickaxDir needs a node of its own (a local_address)');
      mkdirSync(options.antpickaxDir, { recursive: true });
      this.guestDataDirs.set(id, options.antpickaxDir);
    }
    return guest;
  }

  /**
   * The node ("VM") on `address`, created on first use, with every control-plane port a node
   * needs forwarded: the broker, the ports of loopback URLs in `configText`, and whatever this
   * process (and its children) listens on at 127.0.0.1 (the doubles and fixtures it started).
   */
  async node(address: string, configText = ''): Promise<NetNode> {
    this.nodeNetwork ??= await NodeNetwork.create();
    const node = this.nodeNetwork.node(address) ?? (await this.nodeNetwork.addNode(address));
    for (const port of new Set([...loopbackUrlPorts(`${TRANSPORT_URL}\n${configText}`), ...ownLoopbackListeners()])) {
      await this.nodeNetwork.forward(port);
    }
    return node;
  }

  /** chmpx's queues of `group` (`<GROUP>.<16 hex>`) in the node on `address`: its own IPC namespace's mqueue file system. */
  async nodeQueues(address: string, group: string): Promise<string[]> {
    const { command, args } = await this.inNode(address, 'unshare', ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c', OWN_MQUEUE, 'sh', 'ls', '/dev/mqueue']);
    const out = execFileSync(command, args, { encoding: 'utf8' });
    return out.split('\n').filter((n) => n.startsWith(`${group}.`) && /^[0-9a-f]{16}$/.test(n.slice(group.length + 1))).sort();
  }

  /** `command args` run inside the node on `address` (see node()). */
  async inNode(address: string, command: string, args: readonly string[]): Promise<{ command: string; args: string[] }> {
    return (await this.node(address)).command(command, args);
  }

  /** Starts the real agent on the guest's config files. */
  startAgent(guest: Guest): AgentProcess {
    const node = this.guestNodes.get(guest.id);
    if (node !== undefined) {
      // Files a test appended after addGuest (e.g. swift_url) may name more control-plane ports.
      const text = [guest.files.guestAgentConf, guest.files.guestInfoConf].map((f) => readFileSync(f, 'utf8')).join('\n');
      const missing = loopbackUrlPorts(text);
      if (missing.length > 0) void Promise.all(missing.map((p) => this.nodeNetwork?.forward(p))).catch((error: unknown) => process.stderr.write(`conformance: ${String(error)}\n`));
    }
    const dataDir = this.guestDataDirs.get(guest.id);
    // The bind target must exist on the host; inside the node it is the node's own directory.
    if (dataDir !== undefined) mkdirSync(ANTPICKAX_DIR, { recursive: true });
    // In a private mount namespace with the node's own /dev/mqueue: the node has its own IPC
    // namespace, and the host's mqueue mount shows only the host's queues, so without it the agent
    // could not see (nor remove) the queues of a real chmpx, as it can on a VM.
    const vm = dataDir === undefined ? [] : ['/bin/sh', VM_EXEC, dataDir, '0'];
    const inNode = (cmd: string, args: string[]): { command: string; args: string[] } =>
      node === undefined ? { command: cmd, args } : node.command('unshare', ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c', OWN_MQUEUE, 'sh', ...vm, cmd, ...args]);
    const agent = new AgentProcess(guest.files, node === undefined ? undefined : inNode);
    this.agents.push(agent);
    return agent;
  }

  /**
   * Stops agents, conductor and harness and deletes this file's queues. The temp dir (agent
   * logs, trove-conductor.log, sqlite DB) is kept when a test failed or K2H_KEEP_TEST_DIRS=1.
   */
  async close(keepDir: boolean): Promise<void> {
    await Promise.all(this.agents.map((a) => a.stop()));
    await this.troveHarness?.close();
    const queues = [this.conductorQueue, `${this.conductorQueue}.0.0.0.0`];
    for (const g of this.guests) queues.push(g.queue, `${g.queue}.${g.id}`);
    await deleteQueues(queues);
    // Agents are stopped; whatever still runs in a node (daemons) goes with its namespace.
    await this.nodeNetwork?.close();
    if (keepDir || process.env['K2H_KEEP_TEST_DIRS'] === '1') {
      process.stderr.write(`conformance: kept ${this.dir}\n`);
    } else {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

/**
 * Registers a test file's environment lifecycle: started before its tests, closed after them
 * (the temp dir is kept when a test failed). Register file-specific hooks after calling this:
 * their beforeAll runs after start(), their afterAll before close().
 */
export function useConformanceEnv(options: { conductor: boolean }): ConformanceEnv {
  const env = new ConformanceEnv();
  let failed = false;
  beforeAll(async () => {
    await env.start(options);
  });
  beforeEach(({ onTestFailed }) => {
    onTestFailed(() => {
      failed = true;
    });
  });
  afterAll(async () => {
    await env.close(failed);
  });
  return env;
}
