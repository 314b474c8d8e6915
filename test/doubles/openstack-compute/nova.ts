import { randomBytes, randomUUID } from 'node:crypto';
import path from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError, badRequest, notFound, objectBody, optionalString, who } from './http';
import { attachVolume, detachVolume } from './cinder';
import { bindPort, createPort, unbindPort } from './neutron';
import { now, type CloudState, type Flavor, type ServerRecord } from './state';
import { writeCloudInitFiles } from './userdata';

/** nova's microversion range; views change at 2.47 (flavor embedded in the server). */
const MIN_VERSION = '2.1';
const MAX_VERSION = '2.79';
const AZ = 'nova';

function parseVersion(v: string): [number, number] {
  const m = /^(\d+)\.(\d+)$/.exec(v.trim());
  if (m === null) throw new ApiError(400, `Invalid API version request: ${v}`);
  return [Number(m[1]), Number(m[2])];
}

/** The microversion a request asked for (either header), or 2.1. */
function microversion(req: FastifyRequest): [number, number] {
  const legacy = req.headers['x-openstack-nova-api-version'];
  const modern = req.headers['openstack-api-version'];
  let asked = typeof legacy === 'string' ? legacy : undefined;
  if (typeof modern === 'string') {
    const m = /compute\s+(\S+)/i.exec(modern);
    if (m !== null) asked = m[1];
  }
  if (asked === undefined) return parseVersion(MIN_VERSION);
  if (asked === 'latest') return parseVersion(MAX_VERSION);
  const v = parseVersion(asked);
  const max = parseVersion(MAX_VERSION);
  if (v[0] !== 2 || v[1] > max[1]) throw new ApiError(406, `Version ${asked} is not supported by the API. Minimum is ${MIN_VERSION} and maximum is ${MAX_VERSION}.`);
  return v;
}

function atLeast(v: [number, number], minor: number): boolean {
  return v[1] >= minor;
}

function versionDoc(base: string): Record<string, unknown> {
  return {
    id: 'v2.1', status: 'CURRENT', version: MAX_VERSION, min_version: MIN_VERSION, updated: '2013-07-23T11:33:21Z',
    links: [{ rel: 'self', href: `${base}/v2.1/` }],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2.1' }],
  };
}

export function registerNova(scope: FastifyInstance, state: CloudState, baseUrl: () => string): void {
  const base = (): string => `${baseUrl()}/compute`;

  scope.addHook('onSend', async (req, reply) => {
    try {
      const v = microversion(req).join('.');
      void reply.header('OpenStack-API-Version', `compute ${v}`).header('X-OpenStack-Nova-API-Version', v)
        .header('Vary', 'OpenStack-API-Version, X-OpenStack-Nova-API-Version');
    } catch {
      // the route already answered the bad header
    }
  });

  scope.get('/', async () => ({ versions: [versionDoc(base())] }));
  scope.get('/v2.1', async () => ({ version: versionDoc(base()) }));
  scope.get('/v2.1/', async () => ({ version: versionDoc(base()) }));

  const flavorOf = (id: string): Flavor => {
    const flavor = state.flavors.find((f) => f.id === id || f.name === id);
    if (flavor === undefined) throw notFound(`Flavor ${id}`);
    return flavor;
  };
  const flavorView = (f: Flavor): Record<string, unknown> => ({
    id: f.id, name: f.name, ram: f.ram, vcpus: f.vcpus, disk: f.disk,
    'OS-FLV-EXT-DATA:ephemeral': f.ephemeral ?? 0, swap: '', rxtx_factor: 1.0,
    'OS-FLV-DISABLED:disabled': false, 'os-flavor-access:is_public': true, description: null,
    links: [{ rel: 'self', href: `${base()}/v2.1/flavors/${f.id}` }],
  });
  scope.get('/v2.1/flavors', async () => ({ flavors: state.flavors.map((f) => ({ id: f.id, name: f.name, links: flavorView(f)['links'] })) }));
  scope.get('/v2.1/flavors/detail', async () => ({ flavors: state.flavors.map(flavorView) }));
  scope.get<{ Params: { id: string } }>('/v2.1/flavors/:id', async (req) => ({ flavor: flavorView(flavorOf(req.params.id)) }));
  scope.get<{ Params: { id: string } }>('/v2.1/flavors/:id/os-extra_specs', async (req) => { flavorOf(req.params.id); return { extra_specs: {} }; });

  scope.get('/v2.1/os-availability-zone', async () => ({ availabilityZoneInfo: [{ zoneName: AZ, zoneState: { available: true }, hosts: null }] }));
  scope.get('/v2.1/os-availability-zone/detail', async () => ({ availabilityZoneInfo: [{ zoneName: AZ, zoneState: { available: true }, hosts: { 'e2e-host': { 'nova-compute': { available: true, active: true, updated_at: now() } } } }] }));
  scope.get('/v2.1/os-keypairs', async () => ({ keypairs: [] }));
  // Horizon's Overview asks for the project's usage; the double keeps no usage history.
  scope.get<{ Params: { project: string } }>('/v2.1/os-simple-tenant-usage/:project', async (req) => {
    if (req.params.project !== who(req).projectId && !who(req).roles.includes('admin')) throw new ApiError(403, 'Policy does not allow os_compute_api:os-simple-tenant-usage:show to be performed.');
    return { tenant_usage: {} };
  });
  scope.get('/v2.1/limits', async (req) => {
    const mine = [...state.servers.values()].filter((s) => !s.deleted && s.tenant_id === who(req).projectId);
    const used = mine.map((s) => state.flavors.find((f) => f.id === s.flavor));
    return {
      limits: {
        rate: [],
        absolute: {
          maxTotalInstances: 50, maxTotalCores: 100, maxTotalRAMSize: 512_000, maxServerMeta: 128,
          maxServerGroups: 10, maxServerGroupMembers: 10, maxTotalKeypairs: 100, maxPersonality: 5, maxPersonalitySize: 10240,
          totalInstancesUsed: mine.length, totalCoresUsed: used.reduce((n, f) => n + (f?.vcpus ?? 0), 0),
          totalRAMUsed: used.reduce((n, f) => n + (f?.ram ?? 0), 0), totalServerGroupsUsed: 0,
          maxTotalFloatingIps: 0, totalFloatingIpsUsed: 0, maxSecurityGroups: 10, totalSecurityGroupsUsed: 0, maxSecurityGroupRules: 20,
        },
      },
    };
  });

  const visible = (req: FastifyRequest, record: ServerRecord): boolean => record.tenant_id === who(req).projectId || who(req).roles.includes('admin');
  const serverOf = (req: FastifyRequest, id: string): ServerRecord => {
    const record = state.liveServer(id);
    if (record === undefined || !visible(req, record)) throw notFound(`Instance ${id}`);
    return record;
  };
  const serverView = (req: FastifyRequest, s: ServerRecord): Record<string, unknown> => {
    const power = state.power(s.id);
    const cycling = power?.status === 'ACTIVE' && state.cyclePending(s);
    const status = serverStatus(s, power?.status ?? 'BUILD', cycling);
    const v = microversion(req);
    const flavor = state.flavors.find((f) => f.id === s.flavor);
    const addresses: Record<string, unknown[]> = {};
    for (const portId of s.ports) {
      const port = state.ports.get(portId);
      for (const ip of port?.fixed_ips ?? []) {
        (addresses[s.network_name] ??= []).push({ version: 4, addr: ip.ip_address, 'OS-EXT-IPS:type': 'fixed', 'OS-EXT-IPS-MAC:mac_addr': port?.mac_address });
      }
    }
    return {
      id: s.id, name: s.name, status, tenant_id: s.tenant_id, user_id: s.user_id, metadata: s.metadata,
      hostId: 'e2e-host-0', created: s.created, updated: power?.updated ?? s.updated, key_name: s.key_name,
      image: { id: s.image, links: [] },
      flavor: atLeast(v, 47) && flavor !== undefined
        ? { original_name: flavor.name, ram: flavor.ram, vcpus: flavor.vcpus, disk: flavor.disk, ephemeral: flavor.ephemeral ?? 0, swap: 0, extra_specs: {} }
        : { id: s.flavor, links: [] },
      addresses, accessIPv4: '', accessIPv6: '', config_drive: '', progress: 0,
      'OS-DCF:diskConfig': 'MANUAL',
      'OS-EXT-AZ:availability_zone': s.availability_zone,
      'OS-EXT-STS:vm_state': power?.status === 'ACTIVE' ? s.vm_state ?? 'active' : status === 'ERROR' ? 'error' : 'building',
      'OS-EXT-STS:task_state': s.deleted ? 'deleting' : cycling ? s.task_state ?? null : null,
      'OS-EXT-STS:power_state': power?.status === 'ACTIVE' ? 1 : 0,
      'OS-SRV-USG:launched_at': power?.status === 'ACTIVE' ? power.updated ?? null : null,
      'OS-SRV-USG:terminated_at': null,
      'os-extended-volumes:volumes_attached': s.volumes.map((id) => ({ id, delete_on_termination: s.delete_on_termination.includes(id) })),
      security_groups: [{ name: 'default' }],
      ...(status === 'ERROR' && power?.fault !== undefined ? { fault: { code: 500, message: power.fault, created: power.updated } } : {}),
      links: [{ rel: 'self', href: `${base()}/v2.1/servers/${s.id}` }],
    };
  };
  const listServers = (req: FastifyRequest): ServerRecord[] => {
    const q = req.query as Record<string, string | undefined>;
    const all = q['all_tenants'] !== undefined && q['all_tenants'] !== '0' && who(req).roles.includes('admin');
    return [...state.servers.values()]
      .filter((s) => state.liveServer(s.id) !== undefined)
      .filter((s) => all || s.tenant_id === who(req).projectId)
      .filter((s) => q['name'] === undefined || new RegExp(q['name']).test(s.name))
      .filter((s) => {
        if (q['status'] === undefined) return true;
        const power = state.power(s.id)?.status ?? 'BUILD';
        return serverStatus(s, power, power === 'ACTIVE' && state.cyclePending(s)) === q['status'].toUpperCase();
      });
  };
  /** nova's paging: entries after `marker`, at most `limit`; novaclient pages until an empty page. */
  const page = (req: FastifyRequest, servers: ServerRecord[]): ServerRecord[] => {
    const q = req.query as Record<string, string | undefined>;
    let from = 0;
    if (q['marker'] !== undefined) {
      const at = servers.findIndex((s) => s.id === q['marker']);
      if (at < 0) throw badRequest(`marker [${q['marker']}] not found`);
      from = at + 1;
    }
    const limit = q['limit'] === undefined ? undefined : Number(q['limit']);
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) throw badRequest('limit must be a non-negative integer');
    return servers.slice(from, limit === undefined ? undefined : from + limit);
  };
  scope.get('/v2.1/servers', async (req) => ({ servers: page(req, listServers(req)).map((s) => ({ id: s.id, name: s.name, links: [] })) }));
  scope.get('/v2.1/servers/detail', async (req) => ({ servers: page(req, listServers(req)).map((s) => serverView(req, s)) }));
  scope.get<{ Params: { id: string } }>('/v2.1/servers/:id', async (req) => ({ server: serverView(req, serverOf(req, req.params.id)) }));

  scope.post('/v2.1/servers', async (req, reply) => {
    const spec = objectBody(req, 'server');
    const id = who(req);
    const name = optionalString(spec, 'name');
    if (name === undefined || name === '') throw badRequest("Invalid input for field/attribute server. 'name' is a required property");
    const flavorRef = String(spec['flavorRef'] ?? '').split('/').pop() ?? '';
    const flavor = state.flavors.find((f) => f.id === flavorRef);
    if (flavor === undefined) throw badRequest(`Flavor ${flavorRef} could not be found.`);
    const imageRef = String(spec['imageRef'] ?? '').split('/').pop() ?? '';
    const bdms = Array.isArray(spec['block_device_mapping_v2']) ? (spec['block_device_mapping_v2'] as Record<string, unknown>[]) : [];
    if (imageRef !== '' && !state.images.some((i) => i.id === imageRef)) throw badRequest(`Image ${imageRef} could not be found.`);
    if (imageRef === '' && !bdms.some((b) => b['boot_index'] === 0 || b['boot_index'] === '0')) throw badRequest('Block Device Mapping is Invalid: Boot sequence for the instance and image/block device mapping combination is not valid.');
    const volumes = bdms.filter((b) => b['source_type'] === 'volume' && b['destination_type'] !== 'local').map((b) => String(b['uuid']));
    for (const volumeId of volumes) {
      const volume = state.volumes.get(volumeId);
      if (volume === undefined) throw badRequest(`Block Device Mapping is Invalid: failed to get volume ${volumeId}.`);
      if (volume.status !== 'available') throw badRequest(`Block Device Mapping is Invalid: volume ${volumeId} status must be 'available', not '${volume.status}'.`);
    }
    const zone = optionalString(spec, 'availability_zone');
    if (zone !== undefined && zone !== '' && zone !== AZ) throw badRequest(`The requested availability zone is not available`);
    const networks = Array.isArray(spec['networks']) ? (spec['networks'] as Record<string, unknown>[]) : [];
    for (const nic of networks) {
      if (typeof nic['port'] === 'string') {
        const port = state.ports.get(nic['port']);
        if (port === undefined) throw new ApiError(404, `Port id ${nic['port']} could not be found.`);
        if (port.device_id !== '') throw new ApiError(409, `Port ${port.id} is still in use.`);
      } else if (typeof nic['uuid'] === 'string' && nic['uuid'] !== state.network.id) {
        throw badRequest(`Network ${nic['uuid']} could not be found.`);
      }
    }
    let userData = '';
    if (spec['user_data'] !== undefined && spec['user_data'] !== null) {
      if (typeof spec['user_data'] !== 'string') throw badRequest('user_data must be a base64 string.');
      userData = Buffer.from(spec['user_data'], 'base64').toString('utf8');
    }
    const serverId = randomUUID();
    const vmDir = path.join(state.cloudDir, 'vms', serverId);
    const root = path.join(vmDir, 'root');
    let injected: string[];
    try {
      injected = writeCloudInitFiles(userData, root);
    } catch (error) {
      throw badRequest(`User data is not a usable cloud-config document: ${error instanceof Error ? error.message : String(error)}`);
    }
    const ports: string[] = [];
    const ownPorts: string[] = [];
    for (const nic of networks.length > 0 ? networks : [{ uuid: state.network.id }]) {
      if (typeof nic['port'] === 'string') {
        bindPort(state, nic['port'], serverId);
        ports.push(nic['port']);
      } else {
        const port = createPort(state, id.projectId, { network_id: state.network.id });
        bindPort(state, port.id, serverId);
        ports.push(port.id);
        ownPorts.push(port.id);
      }
    }
    const address = state.ports.get(ports[0]!)?.fixed_ips[0]?.ip_address ?? state.nextAddress();
    const record: ServerRecord = {
      id: serverId, name, image: imageRef, flavor: flavor.id,
      metadata: (spec['metadata'] as Record<string, string> | undefined) ?? {},
      created: now(), updated: now(), user_id: id.userId, tenant_id: id.projectId,
      key_name: optionalString(spec, 'key_name') ?? null, availability_zone: AZ,
      address, network_name: state.network.name, ports, own_ports: ownPorts, volumes,
      delete_on_termination: bdms.filter((b) => b['delete_on_termination'] === true).map((b) => String(b['uuid'])),
      vm_dir: vmDir, root, injected, deleted: false, reboots: 0,
    };
    state.saveServer(record);
    volumes.forEach((volumeId, i) => attachVolume(state, volumeId, serverId, `/dev/vd${String.fromCharCode(98 + i)}`));
    return reply.code(202).send({
      server: {
        id: serverId, adminPass: randomBytes(9).toString('base64url'), 'OS-DCF:diskConfig': 'MANUAL',
        security_groups: [{ name: 'default' }], links: [{ rel: 'self', href: `${base()}/v2.1/servers/${serverId}` }],
      },
    });
  });

  scope.delete<{ Params: { id: string } }>('/v2.1/servers/:id', async (req, reply) => {
    const record = serverOf(req, req.params.id);
    if (!record.deleted) {
      record.deleted = true;
      record.deleted_at = now();
      for (const volumeId of record.volumes) {
        detachVolume(state, volumeId);
        if (record.delete_on_termination.includes(volumeId)) state.dropVolume(volumeId);
      }
      for (const portId of record.ports) {
        if (record.own_ports.includes(portId)) state.ports.delete(portId);
        else unbindPort(state, portId);
      }
      state.saveServer(record);
    }
    return reply.code(204).send();
  });

  scope.post<{ Params: { id: string } }>('/v2.1/servers/:id/action', async (req, reply) => {
    const record = serverOf(req, req.params.id);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const action = Object.keys(body)[0];
    // A running power cycle (or a deletion) blocks every other action, as nova's task_state does.
    const busy = (name: string): void => {
      if (record.deleted) throw new ApiError(409, `Cannot '${name}' instance ${record.id} while it is in task_state deleting`);
      if (state.cyclePending(record) || state.power(record.id)?.status !== 'ACTIVE') {
        throw new ApiError(409, `Cannot '${name}' instance ${record.id} while it is in task_state ${record.task_state ?? 'spawning'}`);
      }
    };
    /** Asks the host to restart the VM (test/e2e/helpers/hypervisor.ts acknowledges in power/<id>.json). */
    const cycle = (task: string): void => {
      record.power_cycles = (record.power_cycles ?? 0) + 1;
      record.task_state = task;
    };
    if (action === 'reboot') {
      const type = String((objectBody(req, 'reboot'))['type'] ?? '');
      if (!/^(soft|hard)$/i.test(type)) throw badRequest(`Invalid input for field/attribute type. Value: ${type}. '${type}' is not one of ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']`);
      busy('reboot');
      if (record.vm_state === 'resized') throw new ApiError(409, `Cannot 'reboot' instance ${record.id} while it is in vm_state resized`);
      record.reboots += 1;
      cycle(type.toUpperCase() === 'HARD' ? 'reboot_started_hard' : 'reboot_started');
      state.saveServer(record);
      return reply.code(202).send();
    }
    if (action === 'resize') {
      const flavorRef = String(objectBody(req, 'resize')['flavorRef'] ?? '').split('/').pop() ?? '';
      const flavor = state.flavors.find((f) => f.id === flavorRef);
      if (flavor === undefined) throw badRequest('Unable to locate requested flavor.');
      busy('resize');
      if (record.vm_state === 'resized') throw new ApiError(409, `Cannot 'resize' instance ${record.id} while it is in vm_state resized`);
      if (flavor.id === record.flavor) throw badRequest('When resizing, instances must change flavor!');
      // The host powers the VM off and boots it on the new flavor; then VERIFY_RESIZE until confirmed or reverted.
      record.old_flavor = record.flavor;
      record.flavor = flavor.id;
      record.vm_state = 'resized';
      cycle('resize_prep');
      state.saveServer(record);
      return reply.code(202).send();
    }
    if (action === 'confirmResize' || action === 'revertResize') {
      if (record.vm_state !== 'resized' || state.cyclePending(record)) throw badRequest('Instance has not been resized.');
      record.vm_state = 'active';
      if (action === 'revertResize') {
        // Back on the old flavor: the host powers the VM off and boots it as it was.
        record.flavor = record.old_flavor ?? record.flavor;
        cycle('resize_reverting');
      }
      record.old_flavor = null;
      state.saveServer(record);
      return reply.code(action === 'confirmResize' ? 204 : 202).send();
    }
    throw badRequest(`The compute double does not implement the server action ${Object.keys(body).join(', ') || '(none)'}.`);
  });

  scope.get<{ Params: { id: string } }>('/v2.1/servers/:id/os-volume_attachments', async (req) => {
    const record = serverOf(req, req.params.id);
    return { volumeAttachments: record.volumes.map((volumeId) => attachmentView(state, record.id, volumeId)) };
  });
  scope.post<{ Params: { id: string } }>('/v2.1/servers/:id/os-volume_attachments', async (req) => {
    const record = serverOf(req, req.params.id);
    const spec = objectBody(req, 'volumeAttachment');
    const volumeId = String(spec['volumeId'] ?? '');
    const volume = state.volumes.get(volumeId);
    if (volume === undefined) throw notFound(`Volume ${volumeId}`);
    if (volume.status !== 'available') throw new ApiError(400, `Invalid volume: volume ${volumeId} status must be 'available'`);
    attachVolume(state, volumeId, record.id, optionalString(spec, 'device') ?? `/dev/vd${String.fromCharCode(98 + record.volumes.length)}`);
    record.volumes.push(volumeId);
    state.saveServer(record);
    return { volumeAttachment: attachmentView(state, record.id, volumeId) };
  });
  scope.delete<{ Params: { id: string; volumeId: string } }>('/v2.1/servers/:id/os-volume_attachments/:volumeId', async (req, reply) => {
    const record = serverOf(req, req.params.id);
    if (!record.volumes.includes(req.params.volumeId)) throw notFound(`volume_id not found: ${req.params.volumeId}`);
    detachVolume(state, req.params.volumeId);
    record.volumes = record.volumes.filter((v) => v !== req.params.volumeId);
    state.saveServer(record);
    return reply.code(202).send();
  });

  const groupOf = (id: string): ReturnType<typeof state.serverGroups.get> & object => {
    const group = state.serverGroups.get(id);
    if (group === undefined) throw notFound(`Instance group ${id}`);
    return group;
  };
  scope.get('/v2.1/os-server-groups', async (req) => ({ server_groups: [...state.serverGroups.values()].filter((g) => g.project_id === who(req).projectId) }));
  scope.get<{ Params: { id: string } }>('/v2.1/os-server-groups/:id', async (req) => ({ server_group: groupOf(req.params.id) }));
  scope.post('/v2.1/os-server-groups', async (req) => {
    const spec = objectBody(req, 'server_group');
    const policies = Array.isArray(spec['policies']) ? spec['policies'].map(String) : typeof spec['policy'] === 'string' ? [spec['policy']] : [];
    if (policies.length !== 1 || !['affinity', 'anti-affinity', 'soft-affinity', 'soft-anti-affinity'].includes(policies[0]!)) {
      throw badRequest('Invalid input for field/attribute policies.');
    }
    const group = { id: randomUUID(), name: optionalString(spec, 'name') ?? '', policies, members: [], metadata: {}, project_id: who(req).projectId, user_id: who(req).userId };
    state.serverGroups.set(group.id, group);
    return { server_group: group };
  });
  scope.delete<{ Params: { id: string } }>('/v2.1/os-server-groups/:id', async (req, reply) => {
    groupOf(req.params.id);
    state.serverGroups.delete(req.params.id);
    return reply.code(204).send();
  });
}

/**
 * nova's status of a server (nova/api/openstack/common.py's state map): the host's power state,
 * the task of a power cycle it has not carried out yet, VERIFY_RESIZE while a resize waits.
 */
function serverStatus(s: ServerRecord, power: string, cycling: boolean): string {
  if (power !== 'ACTIVE') return power;
  if (cycling) {
    const task = s.task_state ?? '';
    if (task.startsWith('reboot')) return task.endsWith('_hard') ? 'HARD_REBOOT' : 'REBOOT';
    if (task === 'resize_reverting') return 'REVERT_RESIZE';
    if (task.startsWith('resize')) return 'RESIZE';
  }
  return s.vm_state === 'resized' ? 'VERIFY_RESIZE' : 'ACTIVE';
}

function attachmentView(state: CloudState, serverId: string, volumeId: string): Record<string, unknown> {
  const attachment = state.volumes.get(volumeId)?.attachments.find((a) => a.server_id === serverId);
  return { id: volumeId, volumeId, serverId, device: attachment?.device ?? null, tag: null, delete_on_termination: false };
}

