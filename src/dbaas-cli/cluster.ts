import { readFileSync } from 'node:fs';
import { CLUSTER_NAME_RE } from '../k2hdkc/cluster-name';
import { shippedTemplatePath } from '../config/shipped-template';
import type { ClusterPorts } from '../k2hr3/provision';
import { META, securityGroupName, serverAddress, indexOf, type Context } from './context';
import { CliError } from './errors';
import type { RoleHost } from './k2hr3-user';
import type { Named, Server } from './openstack';
import type { Row } from './output';
import { readRing, ringStatusText, serving, serviceOut } from './ring';
import { Undo } from './undo';
import { renderUserData } from './userdata';
import { waitActive, waitFor, waitGone } from './wait';

/**
 * K2HDKC clusters without Trove: K2HR3 objects, a security group for the chmpx ports, and
 * server VMs whose user-data runs the agent in standalone server mode. Every create step is
 * recorded in an Undo list, so a failure removes what this command made and says what failed.
 */

export type WaitMode = 'service-in' | 'registered' | 'none';

export interface ClusterCreateArgs {
  name: string;
  servers: number;
  flavor: string;
  image: string;
  network: string;
  volumeSizeGb?: number;
  ports: ClusterPorts;
  templateFile?: string;
  wait: WaitMode;
}

export function checkClusterName(name: string): string {
  if (!CLUSTER_NAME_RE.test(name)) {
    throw new CliError('usage', `cluster name ${JSON.stringify(name.slice(0, 140))} is not usable: letters, digits, '_', '.', '-', at most 128, starting with a letter or digit`);
  }
  // K2HR3 keeps names lower-cased (spec §10): a mixed-case name would not be found again as typed.
  if (name !== name.toLowerCase()) throw new CliError('usage', `cluster name "${name}" has capital letters; K2HR3 keeps names lower-cased, so use "${name.toLowerCase()}"`);
  return name;
}

export function checkPorts(ports: ClusterPorts): ClusterPorts {
  const all = [ports.serverPort, ports.serverCtlport, ports.slaveCtlport];
  for (const p of all) if (!Number.isInteger(p) || p < 1 || p > 65535) throw new CliError('usage', `port ${p} is not a port number (1-65535)`);
  if (new Set(all).size !== all.length) throw new CliError('usage', `--port, --ctlport and --slave-ctlport must differ (got ${all.join(', ')})`);
  return ports;
}

function readTemplate(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new CliError('config', `the cluster template ${path} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** The cluster's server and/or slave VMs: servers first, each oldest index first. */
export async function clusterVms(ctx: Context, cluster: string, role?: 'server' | 'slave'): Promise<Server[]> {
  const meta: Record<string, string> = { [META.cluster]: cluster, ...(role ? { [META.role]: role } : {}) };
  const rank = (s: Server): number => (s.metadata[META.role] === 'server' ? 0 : 1);
  return (await ctx.nova.listServers(meta)).sort((a, b) => rank(a) - rank(b) || indexOf(a) - indexOf(b));
}

interface Lookups {
  flavor: Named;
  image: Named;
  network: Named;
}

async function lookups(ctx: Context, args: { flavor: string; image: string; network: string }): Promise<Lookups> {
  const flavor = await ctx.nova.findFlavor(args.flavor);
  const image = await ctx.glance.findImage(args.image);
  const network = await ctx.neutron.findNetwork(args.network);
  return { flavor, image, network };
}

/** Boots `count` server VMs with indexes after `firstIndex`; records each in `undo`. Returns their ids. */
async function bootServers(
  ctx: Context,
  cluster: string,
  count: number,
  firstIndex: number,
  found: Lookups,
  volumeSizeGb: number | undefined,
  undo: Undo,
): Promise<string[]> {
  const token = await ctx.k2hr3.roleToken(cluster, 'server');
  const userData = renderUserData({
    mode: 'server',
    cluster,
    k2hr3ApiUrl: ctx.k2hr3VmUrl,
    registerPath: token.registerpath,
    ...(volumeSizeGb === undefined ? {} : { dataVolumeDevice: '/dev/vdb' }),
  });
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const index = firstIndex + i;
    const name = `${cluster}-server-${index}`;
    const id = await ctx.nova.createServer({
      name,
      imageId: found.image.id,
      flavorId: found.flavor.id,
      networkId: found.network.id,
      securityGroups: ['default', securityGroupName(cluster)],
      userData,
      metadata: {
        [META.cluster]: cluster,
        [META.role]: 'server',
        [META.index]: String(index),
        [META.flavor]: found.flavor.id,
        [META.image]: found.image.id,
        [META.network]: found.network.id,
        ...(volumeSizeGb === undefined ? {} : { [META.volume]: String(volumeSizeGb) }),
      },
      ...(volumeSizeGb === undefined ? {} : { volumeSizeGb }),
    });
    ids.push(id);
    ctx.progress(`server ${name} (${id}) requested`);
    undo.push(`server ${name}`, async () => {
      await ctx.nova.deleteServer(id);
      await waitGone(ctx, [id]);
    });
  }
  return ids;
}

/** Until every id is registered in `<cluster>/server` (and, for service-in, serving in the ring of `expected` servers). */
async function waitServing(ctx: Context, cluster: string, ids: readonly string[], expectedRing: number, ctlport: number, mode: WaitMode): Promise<void> {
  if (mode === 'none') return;
  await waitFor(ctx, `servers of ${cluster} to register in K2HR3`, async () => {
    const hosts = (await ctx.k2hr3.getRole(`${cluster}/server`)) ?? [];
    const missing = ids.filter((id) => !hosts.some((h) => h.cuk === id));
    return missing.length === 0 ? { done: undefined } : { state: `${ids.length - missing.length}/${ids.length} registered` };
  });
  if (mode !== 'service-in') return;
  await waitFor(ctx, `servers of ${cluster} to be SERVICE IN`, async () => {
    const vms = await clusterVms(ctx, cluster, 'server');
    const ring = await readRing(vms.map(serverAddress).filter((a): a is string => a !== null), ctlport);
    if (ring === null) return { state: 'no control port answers yet' };
    const inRing = ids.filter((id) => serving(ring.find((r) => r.cuk === id)?.status)).length;
    const servingAll = ring.filter((r) => serving(r.status)).length;
    if (inRing === ids.length && servingAll === expectedRing && ring.length === expectedRing) return { done: undefined };
    return { state: `${servingAll}/${expectedRing} SERVICE IN (${ring.map((r) => `${r.serverName} ${ringStatusText(r.status)}`).join(', ')})` };
  });
}

export async function clusterCreate(ctx: Context, args: ClusterCreateArgs): Promise<Row> {
  const name = checkClusterName(args.name);
  checkPorts(args.ports);
  if (!Number.isInteger(args.servers) || args.servers < 1 || args.servers > 64) throw new CliError('usage', `--servers ${args.servers} must be a whole number from 1 to 64`);
  const template = readTemplate(args.templateFile ?? shippedTemplatePath());
  // Everything that can be refused is asked before anything is made.
  const found = await lookups(ctx, args);
  if ((await ctx.k2hr3.roleExists(name)) || (await ctx.k2hr3.exists('resource', name))) {
    throw new CliError('conflict', `cluster ${name} already exists in K2HR3 (tenant ${ctx.k2hr3.tenant}); nothing was changed`);
  }
  if ((await clusterVms(ctx, name)).length > 0) throw new CliError('conflict', `VMs of cluster ${name} already exist in Nova; nothing was changed`);
  if ((await ctx.neutron.findSecurityGroups(securityGroupName(name))).length > 0) {
    throw new CliError('conflict', `security group ${securityGroupName(name)} already exists; nothing was changed`);
  }

  const undo = new Undo(ctx);
  await undo.run(`cluster create ${name}`, async () => {
    ctx.progress(`creating K2HR3 resources, policy and roles of ${name}`);
    undo.push(`K2HR3 objects of ${name}`, async () => {
      await ctx.k2hr3.deleteCluster(name);
    });
    await ctx.k2hr3.provision(name, template, args.ports, 'server');
    ctx.progress(`creating security group ${securityGroupName(name)}`);
    const group = await ctx.neutron.createSecurityGroup(securityGroupName(name), `K2HDKC cluster ${name}: chmpx ports (k2hdkc-dbaas)`);
    undo.push(`security group ${group.name}`, () => ctx.neutron.deleteSecurityGroup(group.id));
    for (const port of [args.ports.serverPort, args.ports.serverCtlport, args.ports.slaveCtlport]) {
      await ctx.neutron.addTcpRule(group.id, port, { remoteGroupId: group.id });
    }
    const ids = await bootServers(ctx, name, args.servers, 1, found, args.volumeSizeGb, undo);
    if (args.wait !== 'none') await waitActive(ctx, ids);
    await waitServing(ctx, name, ids, args.servers, args.ports.serverCtlport, args.wait);
  });
  return clusterShow(ctx, name);
}

/** The cluster as `cluster show` prints it; not_found when neither K2HR3 nor Nova knows it. */
export async function clusterShow(ctx: Context, name: string): Promise<Row> {
  checkClusterName(name);
  const roles = await ctx.k2hr3.clusterRoles(name);
  const vms = await clusterVms(ctx, name);
  if (roles === null && vms.length === 0) throw new CliError('not_found', `cluster ${name} does not exist (no K2HR3 roles, no VMs)`);
  const servers = vms.filter((v) => v.metadata[META.role] === 'server');
  const slaves = vms.filter((v) => v.metadata[META.role] === 'slave');
  const ports = roles?.ports ?? (await ctx.k2hr3.ports(name));
  const ring = await readRing(servers.map(serverAddress).filter((a): a is string => a !== null), ports.serverCtlport);
  const line = (vm: Server, hosts: RoleHost[] | undefined, withRing: boolean): string => {
    const registered = hosts?.some((h) => h.cuk === vm.id) ? 'registered' : 'not registered';
    const chmpx = withRing ? `, ${ring === null ? 'chmpx unreachable' : ringStatusText(ring.find((r) => r.cuk === vm.id)?.status)}` : '';
    return `${vm.name} ${vm.id} ${vm.status} ${serverAddress(vm) ?? '-'} ${registered}${chmpx}`;
  };
  const known = new Set(vms.map((v) => v.id));
  const foreign = (hosts: RoleHost[] | undefined): string[] => (hosts ?? []).filter((h) => !known.has(h.cuk)).map((h) => `${h.ip} ${h.cuk} (not a VM of this cluster)`);
  const allServing = ring !== null && servers.length > 0 && servers.every((s) => serving(ring.find((r) => r.cuk === s.id)?.status));
  const status = roles === null ? 'INCOMPLETE (no K2HR3 roles)' : servers.length === 0 ? 'NO SERVERS' : servers.some((s) => s.status !== 'ACTIVE') ? 'BUILDING' : ring === null ? 'ACTIVE (ring not reachable)' : allServing ? 'SERVICE IN' : 'NOT SERVING';
  return {
    name,
    tenant: ctx.k2hr3.tenant,
    status,
    servers: [...servers.map((s) => line(s, roles?.servers, true)), ...foreign(roles?.servers)],
    slaves: [...slaves.map((s) => line(s, roles?.slaves, false)), ...foreign(roles?.slaves)],
    ports: `port ${ports.serverPort}, ctlport ${ports.serverCtlport}, slave ctlport ${ports.slaveCtlport}`,
    security_group: securityGroupName(name),
    k2hr3_role: ctx.k2hr3.yrn('role', name),
  };
}

/** Clusters made by this CLI in the project (from the VMs' metadata). */
export async function clusterList(ctx: Context): Promise<Row[]> {
  const vms = await ctx.nova.listServers({});
  const byName = new Map<string, Server[]>();
  for (const v of vms) {
    const c = v.metadata?.[META.cluster];
    if (c === undefined) continue;
    byName.set(c, [...(byName.get(c) ?? []), v]);
  }
  return [...byName.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, list]) => {
      const servers = list.filter((v) => v.metadata[META.role] === 'server');
      return {
        name,
        servers: servers.length,
        slaves: list.filter((v) => v.metadata[META.role] === 'slave').length,
        status: servers.length > 0 && servers.every((s) => s.status === 'ACTIVE') ? 'ACTIVE' : servers.some((s) => s.status === 'ERROR') ? 'ERROR' : 'BUILDING',
      };
    });
}

export async function clusterScale(ctx: Context, name: string, target: number, wait: WaitMode): Promise<Row> {
  checkClusterName(name);
  if (!Number.isInteger(target) || target < 1 || target > 64) throw new CliError('usage', `--servers ${target} must be a whole number from 1 to 64`);
  const roles = await ctx.k2hr3.clusterRoles(name);
  const servers = await clusterVms(ctx, name, 'server');
  if (roles === null || servers.length === 0) throw new CliError('not_found', `cluster ${name} does not exist or has no server VMs made by k2hdkc-dbaas`);
  const ports = roles.ports;
  if (target === servers.length) {
    ctx.progress(`cluster ${name} already has ${target} servers`);
    return clusterShow(ctx, name);
  }
  if (target > servers.length) {
    const last = servers[servers.length - 1] as Server;
    const meta = last.metadata;
    const found: Lookups = {
      flavor: { id: meta[META.flavor] ?? '', name: '' },
      image: { id: meta[META.image] ?? '', name: '' },
      network: { id: meta[META.network] ?? '', name: '' },
    };
    if (!found.flavor.id || !found.image.id || !found.network.id) throw new CliError('service', `server ${last.name} lacks the k2hdkc-dbaas metadata that says how to boot more`);
    const volume = meta[META.volume] === undefined ? undefined : Number(meta[META.volume]);
    const undo = new Undo(ctx);
    await undo.run(`cluster scale ${name}`, async () => {
      const ids = await bootServers(ctx, name, target - servers.length, indexOf(last) + 1, found, volume, undo);
      if (wait !== 'none') await waitActive(ctx, ids);
      await waitServing(ctx, name, ids, target, ports.serverCtlport, wait);
    });
    return clusterShow(ctx, name);
  }
  // Scale in: the newest servers leave the ring first (SERVICEOUT merges their data away), then K2HR3, then Nova.
  const leaving = servers.slice(target);
  const staying = servers.slice(0, target);
  const via = staying.map(serverAddress).filter((a): a is string => a !== null);
  for (const vm of leaving) {
    const ring = await readRing(via, ports.serverCtlport);
    const entry = ring?.find((r) => r.cuk === vm.id);
    if (ring !== null && entry !== undefined && entry.status.ring === 'SERVICE IN') {
      ctx.progress(`SERVICEOUT ${vm.name}: moving its data to the other servers`);
      let accepted = false;
      for (const address of via) if (!accepted) accepted = await serviceOut(address, ports.serverCtlport, entry);
      if (!accepted) throw new CliError('service', `no server's chmpx accepted SERVICEOUT of ${vm.name}; it was not removed`);
      await waitFor(ctx, `${vm.name} to leave the ring`, async () => {
        const now = await readRing(via, ports.serverCtlport);
        const e = now?.find((r) => r.cuk === vm.id);
        return e === undefined || e.status.ring !== 'SERVICE IN' ? { done: undefined } : { state: ringStatusText(e.status) };
      });
    } else if (ring === null && wait === 'service-in') {
      throw new CliError('service', `no server control port answers, so ${vm.name} cannot be serviced out safely; run from the cluster's network, or use --wait registered to remove it without SERVICEOUT`);
    }
    for (const host of roles.servers.filter((h) => h.cuk === vm.id)) await ctx.k2hr3.removeHost(`${name}/server`, host);
    ctx.progress(`deleting ${vm.name}`);
    await ctx.nova.deleteServer(vm.id);
  }
  await waitGone(ctx, leaving.map((v) => v.id));
  await waitServing(ctx, name, staying.map((v) => v.id), target, ports.serverCtlport, wait);
  return clusterShow(ctx, name);
}

/** Removes the cluster's VMs (servers and slaves), its security group and its K2HR3 objects. */
export async function clusterDelete(ctx: Context, name: string): Promise<string[]> {
  checkClusterName(name);
  const vms = await clusterVms(ctx, name);
  const groups = await ctx.neutron.findSecurityGroups(securityGroupName(name));
  const roleExists = await ctx.k2hr3.roleExists(name);
  if (vms.length === 0 && groups.length === 0 && !roleExists) throw new CliError('not_found', `cluster ${name} does not exist (no VMs, no security group, no K2HR3 roles)`);
  const removed: string[] = [];
  for (const vm of vms) {
    await ctx.nova.deleteServer(vm.id);
    ctx.progress(`deleting ${vm.name}`);
  }
  await waitGone(ctx, vms.map((v) => v.id));
  removed.push(...vms.map((v) => `server ${v.name}`));
  for (const g of groups) {
    // Neutron keeps a group in use (409) until the deleted VMs' ports are gone.
    await waitFor(ctx, `security group ${g.name} to be free`, async () => {
      try {
        await ctx.neutron.deleteSecurityGroup(g.id);
        return { done: undefined };
      } catch (error) {
        if (error instanceof CliError && error.kind === 'conflict') return { state: 'still in use' };
        throw error;
      }
    });
    removed.push(`security group ${g.name}`);
  }
  removed.push(...(await ctx.k2hr3.deleteCluster(name)).map((o) => `K2HR3 ${o}`));
  return removed;
}
