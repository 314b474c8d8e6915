import Ajv, { type ValidateFunction } from 'ajv';
import { CliError } from './errors';
import type { ServiceClient } from './openstack-http';

/**
 * The few Nova, Neutron, Glance and Trove calls the CLI makes, after their API references:
 * compute v2.1 (microversioned server create with base64 `user_data`, BUILD → ACTIVE, DELETE),
 * networking v2.0 (networks, security groups and rules), image v2, database v1.0. Each answer
 * is checked against the fields the CLI reads before it is used.
 */

/** The compute microversion asked for: 2.67 (block_device_mapping_v2 volume_type; stable since Stein). */
export const NOVA_MICROVERSION = '2.67';
/** Nova refuses user_data longer than this (base64 text, compute API reference). */
export const MAX_USER_DATA_B64 = 65535;

const ajv = new Ajv({ allErrors: false });
function checker<T>(schema: object): ValidateFunction<T> {
  return ajv.compile<T>(schema);
}
function check<T>(validate: ValidateFunction<T>, data: unknown, what: string): T {
  if (!validate(data)) throw new CliError('service', `${what} answered with an unexpected body (${ajv.errorsText(validate.errors, { dataVar: 'body' })})`);
  return data;
}

const idName = { type: 'object', required: ['id', 'name'], properties: { id: { type: 'string', minLength: 1 }, name: { type: 'string' } } } as const;
const listOf = (key: string, item: object) => ({ type: 'object', required: [key], properties: { [key]: { type: 'array', items: item } } });
const oneOf = (key: string, item: object) => ({ type: 'object', required: [key], properties: { [key]: item } });

export interface Named {
  id: string;
  name: string;
}

/** Finds one object by id, else by exact name; not_found or an ambiguous-name error otherwise. */
async function byIdOrName<T extends Named>(kind: string, ref: string, byId: () => Promise<T | null>, byName: () => Promise<T[]>): Promise<T> {
  if (ref === '') throw new CliError('usage', `the ${kind} name or id is empty`);
  const direct = await byId();
  if (direct !== null) return direct;
  const named = (await byName()).filter((x) => x.name === ref);
  if (named.length === 1) return named[0] as T;
  if (named.length === 0) throw new CliError('not_found', `no ${kind} named or with id "${ref}" exists`);
  throw new CliError('conflict', `${named.length} ${kind}s are named "${ref}": give the id (${named.map((n) => n.id).join(', ')})`);
}

// ---- Nova ------------------------------------------------------------------------------------

export interface ServerAddress {
  addr: string;
  version?: number;
}
export interface Server {
  id: string;
  name: string;
  status: string;
  metadata: Record<string, string>;
  addresses: Record<string, ServerAddress[]>;
  created?: string;
  fault?: { message?: string };
}

const serverSchema = {
  type: 'object',
  required: ['id', 'name', 'status'],
  properties: {
    id: { type: 'string', minLength: 1 },
    name: { type: 'string' },
    status: { type: 'string' },
    metadata: { type: 'object', additionalProperties: { type: 'string' } },
    addresses: { type: 'object', additionalProperties: { type: 'array', items: { type: 'object', required: ['addr'], properties: { addr: { type: 'string' } } } } },
    created: { type: 'string' },
  },
} as const;
const validateServer = checker<{ server: Server }>(oneOf('server', serverSchema));
const validateServers = checker<{ servers: Server[] }>(listOf('servers', serverSchema));
const validateCreated = checker<{ server: { id: string } }>(oneOf('server', { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1 } } }));
const validateFlavor = checker<{ flavor: Named }>(oneOf('flavor', idName));
const validateFlavors = checker<{ flavors: Named[] }>(listOf('flavors', idName));

export interface ServerCreate {
  name: string;
  imageId: string;
  flavorId: string;
  networkId: string;
  securityGroups: readonly string[];
  userData: string;
  metadata: Record<string, string>;
  /** GiB of a blank data volume made at boot and deleted with the server; none when undefined. */
  volumeSizeGb?: number;
}

export class Nova {
  constructor(private readonly c: ServiceClient) {}

  async findFlavor(ref: string): Promise<Named> {
    return byIdOrName(
      'flavor',
      ref,
      async () => {
        const r = await this.c.request<unknown>({ method: 'GET', path: `/flavors/${encodeURIComponent(ref)}`, notFoundOk: true });
        return r === null ? null : check(validateFlavor, r, 'Nova GET /flavors/<id>').flavor;
      },
      async () => check(validateFlavors, await this.c.request<unknown>({ method: 'GET', path: '/flavors', params: { is_public: 'None' } }), 'Nova GET /flavors').flavors,
    );
  }

  /** POST /servers; returns the new server id. The user-data is base64-encoded here. */
  async createServer(s: ServerCreate): Promise<string> {
    const userData = Buffer.from(s.userData, 'utf8').toString('base64');
    if (userData.length > MAX_USER_DATA_B64) {
      throw new CliError('usage', `the user-data is ${userData.length} bytes in base64; Nova takes at most ${MAX_USER_DATA_B64}`);
    }
    const server: Record<string, unknown> = {
      name: s.name,
      imageRef: s.imageId,
      flavorRef: s.flavorId,
      networks: [{ uuid: s.networkId }],
      security_groups: s.securityGroups.map((name) => ({ name })),
      user_data: userData,
      metadata: s.metadata,
    };
    if (s.volumeSizeGb !== undefined) {
      server['block_device_mapping_v2'] = [
        { boot_index: 0, uuid: s.imageId, source_type: 'image', destination_type: 'local', delete_on_termination: true },
        { boot_index: -1, source_type: 'blank', destination_type: 'volume', volume_size: s.volumeSizeGb, delete_on_termination: true },
      ];
    }
    const r = await this.c.request<unknown>({ method: 'POST', path: '/servers', body: { server }, ok: [202, 200] });
    return check(validateCreated, r, 'Nova POST /servers').server.id;
  }

  async getServer(id: string): Promise<Server | null> {
    const r = await this.c.request<unknown>({ method: 'GET', path: `/servers/${encodeURIComponent(id)}`, notFoundOk: true });
    return r === null ? null : check(validateServer, r, 'Nova GET /servers/<id>').server;
  }

  /** The project's servers whose metadata has every key/value of `metadata`. */
  async listServers(metadata: Record<string, string>): Promise<Server[]> {
    const r = check(validateServers, await this.c.request<unknown>({ method: 'GET', path: '/servers/detail' }), 'Nova GET /servers/detail');
    return r.servers.filter((s) => Object.entries(metadata).every(([k, v]) => s.metadata?.[k] === v));
  }

  /** DELETE /servers/<id>; a server already gone is fine. */
  async deleteServer(id: string): Promise<void> {
    await this.c.request<unknown>({ method: 'DELETE', path: `/servers/${encodeURIComponent(id)}`, ok: [204, 202], notFoundOk: true });
  }
}

// ---- Neutron ---------------------------------------------------------------------------------

const validateNetwork = checker<{ network: Named }>(oneOf('network', idName));
const validateNetworks = checker<{ networks: Named[] }>(listOf('networks', idName));
const validateGroup = checker<{ security_group: Named }>(oneOf('security_group', idName));
const validateGroups = checker<{ security_groups: Named[] }>(listOf('security_groups', idName));
const validateRule = checker<{ security_group_rule: { id: string } }>(oneOf('security_group_rule', { type: 'object', required: ['id'], properties: { id: { type: 'string' } } }));

export class Neutron {
  constructor(private readonly c: ServiceClient) {}

  async findNetwork(ref: string): Promise<Named> {
    return byIdOrName(
      'network',
      ref,
      async () => {
        const r = await this.c.request<unknown>({ method: 'GET', path: `/v2.0/networks/${encodeURIComponent(ref)}`, notFoundOk: true });
        return r === null ? null : check(validateNetwork, r, 'Neutron GET /v2.0/networks/<id>').network;
      },
      async () => check(validateNetworks, await this.c.request<unknown>({ method: 'GET', path: '/v2.0/networks', params: { name: ref } }), 'Neutron GET /v2.0/networks').networks,
    );
  }

  async findSecurityGroups(name: string): Promise<Named[]> {
    const r = await this.c.request<unknown>({ method: 'GET', path: '/v2.0/security-groups', params: { name } });
    return check(validateGroups, r, 'Neutron GET /v2.0/security-groups').security_groups.filter((g) => g.name === name);
  }

  async createSecurityGroup(name: string, description: string): Promise<Named> {
    const r = await this.c.request<unknown>({ method: 'POST', path: '/v2.0/security-groups', body: { security_group: { name, description } }, ok: [201] });
    return check(validateGroup, r, 'Neutron POST /v2.0/security-groups').security_group;
  }

  /** An ingress TCP rule for one port from members of `remoteGroupId` (or from `remoteIpPrefix`). */
  async addTcpRule(groupId: string, port: number, from: { remoteGroupId: string } | { remoteIpPrefix: string }): Promise<string> {
    const rule = {
      security_group_id: groupId,
      direction: 'ingress',
      ethertype: 'IPv4',
      protocol: 'tcp',
      port_range_min: port,
      port_range_max: port,
      ...('remoteGroupId' in from ? { remote_group_id: from.remoteGroupId } : { remote_ip_prefix: from.remoteIpPrefix }),
    };
    const r = await this.c.request<unknown>({ method: 'POST', path: '/v2.0/security-group-rules', body: { security_group_rule: rule }, ok: [201] });
    return check(validateRule, r, 'Neutron POST /v2.0/security-group-rules').security_group_rule.id;
  }

  async deleteSecurityGroup(id: string): Promise<void> {
    await this.c.request<unknown>({ method: 'DELETE', path: `/v2.0/security-groups/${encodeURIComponent(id)}`, ok: [204], notFoundOk: true });
  }
}

// ---- Glance ----------------------------------------------------------------------------------

const imageSchema = { type: 'object', required: ['id', 'name'], properties: { id: { type: 'string', minLength: 1 }, name: { type: ['string', 'null'] } } } as const;
const validateImage = checker<Named>(imageSchema);
const validateImages = checker<{ images: Named[] }>(listOf('images', imageSchema));

export class Glance {
  constructor(private readonly c: ServiceClient) {}

  async findImage(ref: string): Promise<Named> {
    return byIdOrName(
      'image',
      ref,
      async () => {
        // Glance answers 404 for an unknown id and 400/404 for one that is not a UUID.
        if (!/^[0-9a-fA-F-]{32,36}$/.test(ref)) return null;
        const r = await this.c.request<unknown>({ method: 'GET', path: `/v2/images/${encodeURIComponent(ref)}`, notFoundOk: true });
        return r === null ? null : check(validateImage, r, 'Glance GET /v2/images/<id>');
      },
      async () => check(validateImages, await this.c.request<unknown>({ method: 'GET', path: '/v2/images', params: { name: ref } }), 'Glance GET /v2/images').images,
    );
  }
}

// ---- Trove -----------------------------------------------------------------------------------

export interface TroveInstance extends Named {
  cluster_id?: string;
  datastore?: { type?: string };
  configuration?: { id: string } | null;
}
export interface TroveCluster extends Named {
  datastore?: { type?: string };
}
const troveNamed = { type: 'object', required: ['id', 'name'], properties: { id: { type: 'string', minLength: 1 }, name: { type: 'string' }, cluster_id: { type: 'string' } } } as const;
const validateInstance = checker<{ instance: TroveInstance }>(oneOf('instance', troveNamed));
const validateInstances = checker<{ instances: TroveInstance[] }>(listOf('instances', troveNamed));
const validateCluster = checker<{ cluster: TroveCluster }>(oneOf('cluster', troveNamed));
const validateClusters = checker<{ clusters: TroveCluster[] }>(listOf('clusters', troveNamed));
const validateConfiguration = checker<{ configuration: { values?: Record<string, unknown> } }>(oneOf('configuration', { type: 'object' }));

export class Trove {
  constructor(private readonly c: ServiceClient) {}

  async findInstance(ref: string): Promise<TroveInstance | null> {
    const byId = await this.c.request<unknown>({ method: 'GET', path: `/instances/${encodeURIComponent(ref)}`, notFoundOk: true });
    if (byId !== null) return check(validateInstance, byId, 'Trove GET /instances/<id>').instance;
    const all = check(validateInstances, await this.c.request<unknown>({ method: 'GET', path: '/instances', params: { include_clustered: 'true' } }), 'Trove GET /instances').instances;
    return uniqueByName('Trove instance', ref, all);
  }

  async findCluster(ref: string): Promise<TroveCluster | null> {
    const byId = await this.c.request<unknown>({ method: 'GET', path: `/clusters/${encodeURIComponent(ref)}`, notFoundOk: true });
    if (byId !== null) return check(validateCluster, byId, 'Trove GET /clusters/<id>').cluster;
    const all = check(validateClusters, await this.c.request<unknown>({ method: 'GET', path: '/clusters' }), 'Trove GET /clusters').clusters;
    return uniqueByName('Trove cluster', ref, all);
  }

  /** The `cluster-name` value of a configuration group, if it sets one. */
  async configuredClusterName(configurationId: string): Promise<string | null> {
    const r = await this.c.request<unknown>({ method: 'GET', path: `/configurations/${encodeURIComponent(configurationId)}`, notFoundOk: true });
    if (r === null) return null;
    const v = check(validateConfiguration, r, 'Trove GET /configurations/<id>').configuration.values?.['cluster-name'];
    return typeof v === 'string' && v !== '' ? v : null;
  }
}

function uniqueByName<T extends Named>(kind: string, ref: string, all: T[]): T | null {
  const named = all.filter((x) => x.name === ref);
  if (named.length > 1) throw new CliError('conflict', `${named.length} ${kind}s are named "${ref}": give the id (${named.map((n) => n.id).join(', ')})`);
  return named[0] ?? null;
}
