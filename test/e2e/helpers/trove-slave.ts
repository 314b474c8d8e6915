import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { main } from '../../../src/dbaas-cli/main';
import type { NodeNetwork } from '../../helpers/netns';
import { openrc, type CliUser } from './openstack';
import { stopProcess, type Managed } from './processes';
import { iniServers, startStandaloneAgent } from './standalone-vms';

/**
 * A client (slave) node of a Trove-made cluster, as a user makes one: `k2hdkc-dbaas slave
 * userdata <Trove cluster id>` (the CLI logs in with the user's openrc at the control plane's
 * Keystone and finds trove-api in the catalog; K2HR3 checks the user's token at that Keystone),
 * then a VM booted with that user-data: the agent's standalone
 * configuration written where cloud-init puts it, and the agent started as its unit does, on
 * its own node of the control plane's network (its address on its own lo, K2HR3 forwarded).
 */
export class TroveClusterSlave {
  private agent: Managed | undefined;
  private iniPath = '';
  private node: { network: NodeNetwork; address: string } | undefined;
  /** What the CLI printed on stderr (its progress line names the K2HR3 cluster it chose). */
  cliStderr = '';

  /** `settings` is read when the slave starts (the control plane's URLs exist only by then). */
  constructor(private readonly settings: () => { authUrl: string; user: CliUser; k2hr3Url: string; address: string; dir: string; env: NodeJS.ProcessEnv; network: NodeNetwork }) {}

  /** Runs the CLI and boots the slave; throws with the CLI's message when it fails. */
  async start(clusterRef: string): Promise<void> {
    const o = this.settings();
    let stdout = '';
    const code = await main(['slave', 'userdata', clusterRef], {
      stdout: (t) => (stdout += t),
      stderr: (t) => (this.cliStderr += t),
      env: { ...openrc(o.authUrl, o.user), K2HR3_API_URL: o.k2hr3Url },
      cwd: o.dir,
      home: o.dir,
    });
    if (code !== 0) throw new Error(`k2hdkc-dbaas slave userdata ${clusterRef} exited ${code}: ${this.cliStderr}`);
    // cloud-init's write_files, below the VM's root.
    const vmDir = path.join(o.dir, 'trove-slave');
    const doc = parseYaml(stdout) as { write_files: { path: string; content: string }[] };
    const conf = doc.write_files.find((f) => f.path === '/etc/k2hdkc-trove/slave.conf');
    if (conf === undefined) throw new Error('the user-data has no /etc/k2hdkc-trove/slave.conf');
    const confFile = path.join(vmDir, 'root/etc/k2hdkc-trove/slave.conf');
    mkdirSync(path.dirname(confFile), { recursive: true });
    writeFileSync(confFile, conf.content, { mode: 0o600 });
    const node = await o.network.addNode(o.address);
    this.node = { network: o.network, address: o.address };
    const started = startStandaloneAgent({ node, name: 'trove-slave', instanceId: randomUUID(), address: o.address, vmDir, confFile, env: o.env });
    this.agent = started.agent;
    this.iniPath = started.iniPath;
  }

  /** The CUKs (instance ids) of the servers its INI lists. */
  servers(): string[] {
    return this.iniPath === '' ? [] : iniServers(this.iniPath, 'CUK');
  }

  async stop(): Promise<void> {
    if (this.agent !== undefined) await stopProcess(this.agent, 3000);
    this.agent = undefined;
    // Daemons that outlived the agent go with the VM's namespace.
    if (this.node !== undefined) await this.node.network.removeNode(this.node.address);
    this.node = undefined;
  }
}
