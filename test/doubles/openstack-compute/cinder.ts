import { randomUUID } from 'node:crypto';
import { mkdirSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError, badRequest, notFound, objectBody, optionalString, who } from './http';
import { now, volumeBackingFile, type CloudState, type VolumeRecord } from './state';

const DEFAULT_TYPE = { id: '7b4d1a5e-0000-4000-8000-0000000000d1', name: '__DEFAULT__', description: 'Default Volume Type', is_public: true, extra_specs: {}, qos_specs_id: null, 'os-volume-type-access:is_public': true };
const AZ = 'nova';
const MAX_GB = 1000;

const GIB = 1024 ** 3;

/** Creates (or grows) the sparse backing file to `sizeGb`; never shrinks it. */
function sizeBackingFile(state: CloudState, volumeId: string, sizeGb: number): void {
  const file = volumeBackingFile(state.cloudDir, volumeId);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, '', { flag: 'a', mode: 0o600 });
  truncateSync(file, sizeGb * GIB);
}

/** What nova does to a volume it attaches (block device mapping or os-volume_attachments). */
export function attachVolume(state: CloudState, volumeId: string, serverId: string, device: string): void {
  const volume = state.volumes.get(volumeId);
  if (volume === undefined) return;
  const attachmentId = randomUUID();
  volume.status = 'in-use';
  volume.attachments = [{ id: volumeId, attachment_id: attachmentId, volume_id: volumeId, server_id: serverId, host_name: null, device, attached_at: now() }];
  state.saveVolume(volume);
}

export function detachVolume(state: CloudState, volumeId: string): void {
  const volume = state.volumes.get(volumeId);
  if (volume === undefined) return;
  volume.status = 'available';
  volume.attachments = [];
  state.saveVolume(volume);
}

function versionDoc(base: string): Record<string, unknown> {
  return {
    id: 'v3.0', status: 'CURRENT', version: '3.70', min_version: '3.0', updated: '2023-01-01T00:00:00Z',
    links: [{ rel: 'self', href: `${base}/v3/` }],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.volume+json;version=3' }],
  };
}

/** Cinder v3 under /volume/v3/<project_id>: volumes, types, limits, availability zones. */
export function registerCinder(scope: FastifyInstance, state: CloudState, baseUrl: () => string): void {
  const base = (): string => `${baseUrl()}/volume`;
  scope.addHook('onSend', async (req, reply) => {
    const asked = req.headers['openstack-api-version'];
    const m = typeof asked === 'string' ? /volume\s+(\S+)/i.exec(asked) : null;
    const v = m === null ? '3.0' : m[1] === 'latest' ? '3.70' : m[1]!;
    void reply.header('OpenStack-API-Version', `volume ${v}`).header('Vary', 'OpenStack-API-Version');
  });
  scope.get('/', async () => ({ versions: [versionDoc(base())] }));
  scope.get('/v3', async () => ({ versions: [versionDoc(base())] }));
  scope.get('/v3/', async () => ({ versions: [versionDoc(base())] }));

  /** The project in the URL must be the token's (an admin may act on any). */
  const project = (req: FastifyRequest): string => {
    const { project: p } = req.params as { project: string };
    if (p !== who(req).projectId && !who(req).roles.includes('admin')) throw new ApiError(403, 'Policy does not allow this request to be performed.');
    return p;
  };
  const volumeOf = (req: FastifyRequest, id: string): VolumeRecord => {
    const volume = state.volumes.get(id);
    if (volume === undefined || (volume.tenant_id !== project(req) && !who(req).roles.includes('admin'))) throw notFound(`Volume ${id}`);
    return volume;
  };
  const view = (v: VolumeRecord): Record<string, unknown> => ({
    id: v.id, name: v.name, description: v.description, size: v.size, status: v.status,
    volume_type: v.volume_type, availability_zone: v.availability_zone, attachments: v.attachments,
    bootable: 'false', encrypted: false, multiattach: false, metadata: v.metadata, created_at: v.created_at, updated_at: v.updated_at,
    user_id: v.user_id, 'os-vol-tenant-attr:tenant_id': v.tenant_id, snapshot_id: null, source_volid: null,
    consistencygroup_id: null, replication_status: null, migration_status: null, group_id: null,
    links: [{ rel: 'self', href: `${base()}/v3/${v.tenant_id}/volumes/${v.id}` }],
  });
  const list = (req: FastifyRequest): VolumeRecord[] => {
    const q = req.query as Record<string, string | undefined>;
    const all = q['all_tenants'] !== undefined && who(req).roles.includes('admin');
    return [...state.volumes.values()]
      .filter((v) => all || v.tenant_id === project(req))
      .filter((v) => q['name'] === undefined || v.name === q['name'])
      .filter((v) => q['status'] === undefined || v.status === q['status']);
  };

  scope.get('/v3/:project/volumes', async (req) => ({ volumes: list(req).map((v) => ({ id: v.id, name: v.name, links: view(v)['links'] })) }));
  scope.get('/v3/:project/volumes/detail', async (req) => ({ volumes: list(req).map(view) }));
  scope.get<{ Params: { project: string; id: string } }>('/v3/:project/volumes/:id', async (req) => ({ volume: view(volumeOf(req, req.params.id)) }));
  scope.post('/v3/:project/volumes', async (req, reply) => {
    const spec = objectBody(req, 'volume');
    const size = Number(spec['size']);
    if (!Number.isInteger(size) || size < 1) throw badRequest(`Invalid input received: "size" must be an integer greater than 0, got ${JSON.stringify(spec['size'])}.`);
    if (size > MAX_GB) throw new ApiError(413, `VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota. Requested ${size}G.`);
    const type = optionalString(spec, 'volume_type');
    if (type !== undefined && type !== DEFAULT_TYPE.name && type !== DEFAULT_TYPE.id) throw notFound(`Volume type with name ${type}`);
    const zone = optionalString(spec, 'availability_zone');
    if (zone !== undefined && zone !== AZ) throw badRequest(`Invalid input received: Availability zone '${zone}' is invalid.`);
    const record: VolumeRecord = {
      id: randomUUID(), name: optionalString(spec, 'name') ?? null, description: optionalString(spec, 'description') ?? null,
      size, status: 'available', volume_type: DEFAULT_TYPE.name, availability_zone: AZ, attachments: [],
      created_at: now(), updated_at: now(), user_id: who(req).userId, tenant_id: project(req),
      metadata: (spec['metadata'] as Record<string, string> | undefined) ?? {},
    };
    sizeBackingFile(state, record.id, size);
    state.saveVolume(record);
    return reply.code(202).send({ volume: view(record) });
  });
  scope.delete<{ Params: { project: string; id: string } }>('/v3/:project/volumes/:id', async (req, reply) => {
    const volume = volumeOf(req, req.params.id);
    if (volume.status === 'in-use') throw badRequest(`Invalid volume: Volume status must be available or error or error_restoring or error_extending or error_managing and must not be migrating, attached, belong to a group, have snapshots or be disassociated from snapshots after volume transfer.`);
    state.dropVolume(volume.id);
    return reply.code(202).send();
  });
  scope.post<{ Params: { project: string; id: string } }>('/v3/:project/volumes/:id/action', async (req, reply) => {
    const volume = volumeOf(req, req.params.id);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const extend = body['os-extend'] as { new_size?: unknown } | undefined;
    if (extend !== undefined) {
      const size = Number(extend.new_size);
      if (!Number.isInteger(size) || size <= volume.size) throw badRequest(`Invalid input received: New size for extend must be greater than current size. (current: ${volume.size}, extended: ${String(extend.new_size)}).`);
      if (volume.status !== 'available') throw badRequest(`Invalid volume: Volume ${volume.id} status must be available to extend, but current status is: ${volume.status}.`);
      // The storage grows first: a record saying 2 GB over a 1 GB file would be a lie.
      sizeBackingFile(state, volume.id, size);
      volume.size = size;
      state.saveVolume(volume);
      return reply.code(202).send();
    }
    throw badRequest(`The volume double does not implement the action ${Object.keys(body).join(', ') || '(none)'}.`);
  });

  scope.get('/v3/:project/types', async () => ({ volume_types: [DEFAULT_TYPE] }));
  scope.get<{ Params: { project: string; id: string } }>('/v3/:project/types/:id', async (req) => {
    if (req.params.id !== DEFAULT_TYPE.id && req.params.id !== DEFAULT_TYPE.name) throw notFound(`Volume type ${req.params.id}`);
    return { volume_type: DEFAULT_TYPE };
  });
  scope.get('/v3/:project/types/default', async () => ({ volume_type: DEFAULT_TYPE }));
  scope.get('/v3/:project/os-availability-zone', async () => ({ availabilityZoneInfo: [{ zoneName: AZ, zoneState: { available: true } }] }));
  scope.get('/v3/:project/limits', async (req) => {
    const mine = [...state.volumes.values()].filter((v) => v.tenant_id === project(req));
    return {
      limits: {
        rate: [],
        absolute: {
          maxTotalVolumes: 100, maxTotalSnapshots: 100, maxTotalVolumeGigabytes: MAX_GB, maxTotalBackups: 10, maxTotalBackupGigabytes: 1000,
          totalVolumesUsed: mine.length, totalGigabytesUsed: mine.reduce((n, v) => n + v.size, 0),
          totalSnapshotsUsed: 0, totalBackupsUsed: 0, totalBackupGigabytesUsed: 0,
        },
      },
    };
  });
}
