import { CLUSTER_NAME_RE } from '../k2hdkc/cluster-name';
import { clusterVms } from './cluster';
import { META, securityGroupName, serverAddress, indexOf, type Context } from './context';
import { CliError } from './errors';
import type { Row } from './output';
import { Undo } from './undo';
import { renderUserData } from './userdata';
import { waitActive, waitFor, waitGone } from './wait';

/**
 * Client (slave) nodes for any K2HDKC cluster, Trove-made or CLI-made: a slave is a VM from the
 * guest image whose agent runs chmpx in slave mode, registered in `<cluster>/slave`, and follows
 * the servers as they come and go.
 */

/** Where a cluster name came from, for the user. */
export interface ResolvedCluster {
  /** The K2HR3 cluster name (resource and role path). */
  name: string;
  source: string;
}

/**
 * `<cluster>` → the K2HR3 cluster: a K2HR3 cluster name as is; else a Trove instance or cluster
 * (name or id), whose K2HR3 cluster is the first of these that exists in K2HR3: the
 * configuration group's `cluster-name`, the Trove cluster's name (what the dashboard names it),
 * the Trove cluster id, the instance's own id (the agent's rule, src/k2hdkc/cluster-name.ts).
 */
export async function resolveCluster(ctx: Context, ref: string): Promise<ResolvedCluster> {
  if (ref === '') throw new CliError('usage', 'the cluster name or id is empty');
  const known = async (name: string): Promise<boolean> => CLUSTER_NAME_RE.test(name) && (await ctx.k2hr3.roleExists(`${name}/slave`));
  // K2HR3 keeps names lower-cased (spec §10).
  if (await known(ref.toLowerCase())) return { name: ref.toLowerCase(), source: 'K2HR3 cluster' };
  const tried = ['K2HR3 clusters'];
  if (ctx.trove !== null) {
    tried.push('Trove instances', 'Trove clusters');
    const candidates: ResolvedCluster[] = [];
    const instance = await ctx.trove.findInstance(ref);
    const clusterId = instance === null ? null : (instance.cluster_id ?? null);
    const cluster = instance === null ? await ctx.trove.findCluster(ref) : clusterId === null ? null : await ctx.trove.findCluster(clusterId);
    const what = instance !== null ? `Trove instance ${instance.name}` : cluster !== null ? `Trove cluster ${cluster.name}` : '';
    if (instance?.configuration?.id) {
      const configured = await ctx.trove.configuredClusterName(instance.configuration.id);
      if (configured !== null) candidates.push({ name: configured, source: `${what} (configuration cluster-name)` });
    }
    if (cluster !== null) {
      candidates.push({ name: cluster.name, source: `${what} (Trove cluster name)` }, { name: cluster.id, source: `${what} (Trove cluster id)` });
    }
    if (instance !== null && clusterId === null) candidates.push({ name: instance.id, source: `${what} (instance id)` });
    for (const c of candidates) if (await known(c.name.toLowerCase())) return { ...c, name: c.name.toLowerCase() };
    if (what !== '') {
      throw new CliError('not_found', `${what} has no K2HR3 cluster in tenant ${ctx.k2hr3.tenant} (tried ${candidates.map((c) => c.name).join(', ')}): is it a K2HDKC instance that has finished building?`);
    }
  }
  throw new CliError('not_found', `no cluster "${ref}" was found (looked in ${tried.join(', ')}${ctx.trove === null ? '; the catalog has no Trove endpoint' : ''})`);
}

/** User-data for a slave of the cluster (a fresh role token of `<cluster>/slave`). */
export async function slaveUserdata(ctx: Context, ref: string): Promise<{ cluster: ResolvedCluster; text: string }> {
  const cluster = await resolveCluster(ctx, ref);
  const token = await ctx.k2hr3.roleToken(cluster.name, 'slave');
  return { cluster, text: renderUserData({ mode: 'slave', cluster: cluster.name, k2hr3ApiUrl: ctx.k2hr3VmUrl, registerPath: token.registerpath }) };
}

export interface SlaveCreateArgs {
  cluster: string;
  flavor: string;
  image: string;
  network: string;
  count: number;
  securityGroups: readonly string[];
  wait: 'registered' | 'none';
}

function slaveRow(vm: { id: string; name: string; status: string; metadata: Record<string, string> }, address: string | null, registered: boolean): Row {
  return { id: vm.id, name: vm.name, cluster: vm.metadata[META.cluster] ?? '', status: vm.status, address: address ?? '', k2hr3: registered ? 'registered' : 'not registered' };
}

export const SLAVE_COLUMNS = ['id', 'name', 'cluster', 'status', 'address', 'k2hr3'] as const;

export async function slaveCreate(ctx: Context, args: SlaveCreateArgs): Promise<Row[]> {
  if (!Number.isInteger(args.count) || args.count < 1 || args.count > 64) throw new CliError('usage', `--count ${args.count} must be a whole number from 1 to 64`);
  const flavor = await ctx.nova.findFlavor(args.flavor);
  const image = await ctx.glance.findImage(args.image);
  const network = await ctx.neutron.findNetwork(args.network);
  const { cluster, text } = await slaveUserdata(ctx, args.cluster);
  const existing = await clusterVms(ctx, cluster.name, 'slave');
  const next = existing.reduce((m, v) => Math.max(m, indexOf(v)), 0) + 1;
  // A CLI-made cluster's group opens the chmpx ports between its nodes; a Trove cluster has its own rules.
  const groups = ['default', ...args.securityGroups];
  if ((await ctx.neutron.findSecurityGroups(securityGroupName(cluster.name))).length > 0) groups.push(securityGroupName(cluster.name));
  const ids: string[] = [];
  const undo = new Undo(ctx);
  await undo.run(`slave create ${args.cluster}`, async () => {
    for (let i = 0; i < args.count; i++) {
      const name = `${cluster.name}-slave-${next + i}`;
      const id = await ctx.nova.createServer({
        name,
        imageId: image.id,
        flavorId: flavor.id,
        networkId: network.id,
        securityGroups: groups,
        userData: text,
        metadata: { [META.cluster]: cluster.name, [META.role]: 'slave', [META.index]: String(next + i) },
      });
      ids.push(id);
      ctx.progress(`slave ${name} (${id}) requested`);
      undo.push(`server ${name}`, async () => {
        await ctx.nova.deleteServer(id);
        await waitGone(ctx, [id]);
      });
    }
    if (args.wait === 'none') return;
    await waitActive(ctx, ids);
    await waitFor(ctx, `slaves of ${cluster.name} to register in K2HR3`, async () => {
      const hosts = (await ctx.k2hr3.getRole(`${cluster.name}/slave`)) ?? [];
      const done = ids.filter((id) => hosts.some((h) => h.cuk === id)).length;
      return done === ids.length ? { done: undefined } : { state: `${done}/${ids.length} registered` };
    });
  });
  return slaveList(ctx, cluster.name, ids);
}

/** Slave VMs made by this CLI (of one cluster, or all), with their K2HR3 registration. */
export async function slaveList(ctx: Context, clusterRef?: string, only?: readonly string[]): Promise<Row[]> {
  let vms;
  if (clusterRef !== undefined) {
    const cluster = await resolveCluster(ctx, clusterRef);
    vms = await clusterVms(ctx, cluster.name, 'slave');
  } else {
    vms = (await ctx.nova.listServers({ [META.role]: 'slave' })).sort((a, b) => (a.metadata[META.cluster] ?? '').localeCompare(b.metadata[META.cluster] ?? '') || indexOf(a) - indexOf(b));
  }
  if (only !== undefined) vms = vms.filter((v) => only.includes(v.id));
  const hostsByCluster = new Map<string, Set<string>>();
  const rows: Row[] = [];
  for (const vm of vms) {
    const c = vm.metadata[META.cluster] ?? '';
    if (!hostsByCluster.has(c)) hostsByCluster.set(c, new Set(((await ctx.k2hr3.getRole(`${c}/slave`)) ?? []).map((h) => h.cuk)));
    rows.push(slaveRow(vm, serverAddress(vm), hostsByCluster.get(c)?.has(vm.id) ?? false));
  }
  return rows;
}

/** Deletes slave VMs (name or id), removing their K2HR3 registration first. */
export async function slaveDelete(ctx: Context, refs: readonly string[]): Promise<string[]> {
  const all = await ctx.nova.listServers({ [META.role]: 'slave' });
  const targets = refs.map((ref) => {
    const matches = all.filter((v) => v.id === ref || v.name === ref);
    if (matches.length === 0) throw new CliError('not_found', `no slave VM named or with id "${ref}" made by k2hdkc-dbaas exists`);
    if (matches.length > 1) throw new CliError('conflict', `${matches.length} slave VMs are named "${ref}": give the id`);
    return matches[0]!;
  });
  for (const vm of targets) {
    const cluster = vm.metadata[META.cluster] ?? '';
    for (const host of ((await ctx.k2hr3.getRole(`${cluster}/slave`)) ?? []).filter((h) => h.cuk === vm.id)) await ctx.k2hr3.removeHost(`${cluster}/slave`, host);
    await ctx.nova.deleteServer(vm.id);
    ctx.progress(`deleting ${vm.name}`);
  }
  await waitGone(ctx, targets.map((v) => v.id));
  return targets.map((v) => `server ${v.name}`);
}
