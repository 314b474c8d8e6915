import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { HostBridge } from './bridge';
import { HostExposure } from './host-exposure';
import { registerNode, unregisterNode } from './registry';

const run = promisify(execFile);
const RELAY = path.join(__dirname, 'relay.js');
const NETNS_DIR = '/run/netns';
/** Every namespace of these helpers starts with this, then the owning pid: `k2t-<pid>-<rand>-...`. */
const PREFIX = 'k2t-';

async function ip(args: readonly string[]): Promise<void> {
  await run('ip', [...args], { timeout: 15_000 });
}

async function sysctl(ns: string, settings: Readonly<Record<string, string>>): Promise<void> {
  await run('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', ...Object.entries(settings).map(([k, v]) => `${k}=${v}`)], { timeout: 15_000 });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** SIGKILLs every process in namespace `ns` and deletes it (with the veth ends inside it). */
async function destroyNamespace(ns: string): Promise<void> {
  const { stdout } = await run('ip', ['netns', 'pids', ns], { timeout: 15_000 }).catch(() => ({ stdout: '' }));
  for (const pid of stdout.split(/\s+/).filter((p) => /^\d+$/.test(p))) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await ip(['netns', 'del', ns]).catch(() => undefined);
}

/**
 * Removes the namespaces of runs whose process is gone (a killed test run cannot clean up after
 * itself). Namespaces of live runs, including other test runs on this machine, are left alone.
 */
export async function removeStaleNamespaces(): Promise<string[]> {
  if (!existsSync(NETNS_DIR)) return [];
  const stale = readdirSync(NETNS_DIR).filter((name) => {
    const m = /^k2t-(\d+)-/.exec(name);
    return m !== null && !alive(Number(m[1]));
  });
  for (const ns of stale) await destroyNamespace(ns);
  return stale;
}

/** Networks not closed yet: removed synchronously if the process exits first. */
const live = new Set<NodeNetwork>();
process.once('exit', () => {
  for (const network of live) network.removeNowSync();
});

/** One node ("VM"): its namespace, its address on its own lo, and the relay that anchors it. */
export interface NetNode {
  readonly address: string;
  readonly namespace: string;
  /** `nsenter` + arguments that run `command args` inside the node (network and IPC namespace). */
  command(command: string, args: readonly string[]): { command: string; args: string[] };
  /**
   * An executable that runs `program` with its arguments inside the node: for code under test
   * that spawns a program by path (the supervisor's chmpx/k2hdkc).
   */
  wrap(program: string): string;
  /** `address:port` on the host leads into the node while the node listens there (host-exposure.ts). */
  exposeOnHost(ports: readonly number[]): Promise<void>;
}

interface NodeState extends NetNode {
  readonly exposure: HostExposure;
  readonly relay: ChildProcess;
  readonly relayPid: number;
  readonly dialSocket: string;
  readonly hubPort: string;
}

/**
 * Networks of "VMs" on one machine, with loopback addresses only. Each node is a network
 * namespace whose `lo` carries 127.0.0.1/32 and the node's own address (/32), so programs bind
 * the same ports on every node (as on real VMs) and chmpx finds its own NAME among the host's
 * interface addresses. A hub namespace routes between the nodes: one veth pair per node,
 * `route_localnet` (127/8 on the wire), `rp_filter` off, forwarding and proxy ARP on the hub's
 * ends, the nodes' MACs as static neighbours. The control plane stays on the host: each node's
 * relay listens on the forwarded ports at 127.0.0.1 inside the node and carries the connections
 * over a unix-socket bridge to 127.0.0.1 of the host, from the node's address. The test process
 * reaches a node's ports through `connectTcp` (registry.ts), which rawCtlport uses.
 * Everything carries a per-run name (`k2t-<pid>-<random>`) and is removed by close(), or by
 * removeStaleNamespaces() in the next run if this process died first.
 */
export class NodeNetwork {
  readonly id = `${PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`;
  readonly hub = `${this.id}-hub`;
  private readonly nodes = new Map<string, NodeState>();
  private nextIndex = 0;
  private closed = false;

  private constructor(private readonly dir: string, private readonly bridge: HostBridge, private readonly ports: Set<number>) {}

  /** Creates the hub (after removing namespaces of dead runs); `forward`: host ports every node reaches. */
  static async create(options: { forward?: readonly number[] } = {}): Promise<NodeNetwork> {
    await removeStaleNamespaces();
    const dir = mkdtempSync(path.join(tmpdir(), 'k2t-net-'));
    // The bridge checks each connection against this set, which forward() extends.
    const ports = new Set<number>(options.forward ?? []);
    const bridge = await HostBridge.start(path.join(dir, 'bridge.sock'), ports);
    const network = new NodeNetwork(dir, bridge, ports);
    try {
      await ip(['netns', 'add', network.hub]);
      await ip(['-n', network.hub, 'link', 'set', 'lo', 'up']);
      await sysctl(network.hub, {
        'net.ipv4.ip_forward': '1',
        'net.ipv4.conf.all.rp_filter': '0',
        'net.ipv4.conf.default.rp_filter': '0',
        'net.ipv4.conf.all.route_localnet': '1',
        'net.ipv4.conf.default.route_localnet': '1',
        'net.ipv4.conf.default.proxy_arp': '1',
      });
    } catch (error) {
      await network.close();
      throw error;
    }
    live.add(network);
    return network;
  }

  /** Last resort when the process exits without close() (a crashed test file): delete synchronously. */
  removeNowSync(): void {
    for (const ns of [...[...this.nodes.values()].map((n) => n.namespace), this.hub]) {
      try {
        const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 5000 }).split(/\s+/).filter((p) => /^\d+$/.test(p));
        for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
        execFileSync('ip', ['netns', 'del', ns], { timeout: 5000, stdio: 'ignore' });
      } catch {
        // gone already; the next run's removeStaleNamespaces() gets the rest
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** The node on `address`, if this network has it. */
  node(address: string): NetNode | undefined {
    return this.nodes.get(address);
  }

  /** Addresses of the nodes, in the order they were added. */
  get addresses(): string[] {
    return [...this.nodes.keys()];
  }

  /** Makes 127.0.0.1:`port` of the host reachable as 127.0.0.1:`port` on every node (now and later). */
  async forward(port: number): Promise<void> {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`forward: bad port ${String(port)}`);
    this.ports.add(port);
    await Promise.all([...this.nodes.values()].map((n) => this.relayForward(n, port)));
  }

  /** A new node on `address` (127.0.0.0/8, not 127.0.0.1): namespace, lo, veth to the hub, relay. */
  async addNode(address: string): Promise<NetNode> {
    if (this.closed) throw new Error('NodeNetwork is closed');
    if (isIP(address) !== 4 || !address.startsWith('127.') || address === '127.0.0.1') {
      throw new Error(`node address must be a 127.0.0.0/8 address other than 127.0.0.1: ${address}`);
    }
    const existing = this.nodes.get(address);
    if (existing !== undefined) return existing;
    const index = this.nextIndex++;
    const namespace = `${this.id}-n${index}`;
    const hubPort = `n${index}`;
    await ip(['netns', 'add', namespace]);
    try {
      await ip(['-n', this.hub, 'link', 'add', hubPort, 'type', 'veth', 'peer', 'name', 'veth0', 'netns', namespace]);
      await sysctl(namespace, {
        'net.ipv4.conf.all.rp_filter': '0',
        'net.ipv4.conf.default.rp_filter': '0',
        'net.ipv4.conf.all.route_localnet': '1',
        'net.ipv4.conf.veth0.route_localnet': '1',
        'net.ipv4.conf.veth0.rp_filter': '0',
      });
      // lo comes up with 127.0.0.1/8; /32 keeps the rest of 127/8 routable to the other nodes.
      await ip(['-n', namespace, 'link', 'set', 'lo', 'up']);
      await ip(['-n', namespace, 'addr', 'del', '127.0.0.1/8', 'dev', 'lo']);
      await ip(['-n', namespace, 'addr', 'add', '127.0.0.1/32', 'dev', 'lo']);
      await ip(['-n', namespace, 'addr', 'add', `${address}/32`, 'dev', 'lo']);
      await ip(['-n', namespace, 'link', 'set', 'veth0', 'up']);
      await ip(['-n', namespace, 'route', 'add', '127.0.0.0/8', 'dev', 'veth0', 'src', address]);
      await ip(['-n', this.hub, 'link', 'set', hubPort, 'up']);
      await ip(['-n', this.hub, 'route', 'add', `${address}/32`, 'dev', hubPort]);
      // The hub's ARP for a loopback target never resolves (the kernel makes it a NOARP
      // broadcast entry): give it the node's MAC. The nodes resolve through the hub's proxy ARP.
      const { stdout } = await run('ip', ['-n', namespace, '-j', 'link', 'show', 'veth0'], { timeout: 15_000 });
      const mac = (JSON.parse(stdout) as { address: string }[])[0]?.address;
      if (mac === undefined) throw new Error(`no MAC on veth0 of ${namespace}`);
      await ip(['-n', this.hub, 'neigh', 'replace', address, 'dev', hubPort, 'lladdr', mac, 'nud', 'permanent']);
      const node = await this.startRelay(address, namespace, hubPort);
      this.nodes.set(address, node);
      registerNode(address, node.dialSocket);
      for (const port of this.ports) await this.relayForward(node, port);
      return node;
    } catch (error) {
      unregisterNode(address);
      this.nodes.delete(address);
      await destroyNamespace(namespace);
      throw error;
    }
  }

  /** Stops every process of the node and removes its namespace (the VM is gone). */
  async removeNode(address: string): Promise<void> {
    const node = this.nodes.get(address);
    if (node === undefined) return;
    this.nodes.delete(address);
    unregisterNode(address);
    node.exposure.close();
    await ip(['-n', this.hub, 'link', 'del', node.hubPort]).catch(() => undefined);
    node.relay.disconnect?.();
    await destroyNamespace(node.namespace);
  }

  /** Removes every node, the hub and the bridge. Safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
    live.delete(this);
    for (const address of [...this.nodes.keys()]) await this.removeNode(address);
    await destroyNamespace(this.hub);
    await this.bridge.close().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async startRelay(address: string, namespace: string, hubPort: string): Promise<NodeState> {
    const dialSocket = path.join(this.dir, `${hubPort}.dial.sock`);
    // unshare --ipc: the node's POSIX message queues live and die with its processes.
    const relay = spawn('nsenter', [`--net=${NETNS_DIR}/${namespace}`, '--', 'unshare', '--ipc', '--', process.execPath, RELAY, address, this.bridge.path, dialSocket], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    const relayPid = await new Promise<number>((resolve, reject) => {
      relay.once('error', reject);
      relay.once('exit', (code) => reject(new Error(`relay of ${address} exited (${String(code)})`)));
      relay.once('message', (msg: { ready?: boolean; pid?: number }) => (msg.ready === true && msg.pid !== undefined ? resolve(msg.pid) : reject(new Error('relay: bad hello'))));
    });
    relay.removeAllListeners('exit');
    // The test process must not wait for the relay to exit.
    relay.unref();
    (relay as unknown as { channel?: { unref(): void } }).channel?.unref();
    const command = (cmd: string, args: readonly string[]): { command: string; args: string[] } => ({
      command: 'nsenter',
      args: [`--net=${NETNS_DIR}/${namespace}`, `--ipc=/proc/${relayPid}/ns/ipc`, '--', cmd, ...args],
    });
    const wrap = (program: string): string => {
      const file = path.join(this.dir, `${hubPort}-${path.basename(program)}`);
      const { command: cmd, args } = command(program, []);
      const quoted = [cmd, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
      writeFileSync(file, `#!/bin/sh\n# ${program} inside node ${address} (test/helpers/netns)\nexec ${quoted} "$@"\n`, { mode: 0o700 });
      chmodSync(file, 0o700);
      return file;
    };
    const exposure = new HostExposure(address, relayPid);
    const exposeOnHost = (ports: readonly number[]): Promise<void> => exposure.expose(ports);
    return { address, namespace, command, wrap, exposeOnHost, exposure, relay, relayPid, dialSocket, hubPort };
  }

  private relayForward(node: NodeState, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onMessage = (msg: { forwarded?: number; error?: string }): void => {
        if (msg.forwarded !== port) return;
        node.relay.off('message', onMessage);
        if (msg.error === undefined) resolve();
        else reject(new Error(`node ${node.address}: cannot forward 127.0.0.1:${port}: ${msg.error}`));
      };
      node.relay.on('message', onMessage);
      node.relay.send({ forward: port });
    });
  }
}
