import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError, queryList, who } from './http';
import type { CloudState, Image } from './state';

/**
 * The part of glance's image schema the double's images use. glanceclient builds its model
 * classes from GET /v2/schemas/image and validates every image against it.
 */
const IMAGE_SCHEMA = {
  name: 'image',
  additionalProperties: { type: 'string' },
  properties: {
    id: { type: 'string' }, name: { type: ['null', 'string'] }, status: { type: 'string' },
    visibility: { type: 'string' }, protected: { type: 'boolean' }, os_hidden: { type: 'boolean' },
    tags: { type: 'array', items: { type: 'string' } }, created_at: { type: 'string' }, updated_at: { type: 'string' },
    size: { type: ['null', 'integer'] }, virtual_size: { type: ['null', 'integer'] },
    disk_format: { type: ['null', 'string'] }, container_format: { type: ['null', 'string'] },
    min_disk: { type: 'integer' }, min_ram: { type: 'integer' }, owner: { type: ['null', 'string'] },
    checksum: { type: ['null', 'string'] }, self: { type: 'string' }, file: { type: 'string' }, schema: { type: 'string' },
  },
  links: [{ rel: 'self', href: '{self}' }, { rel: 'enclosure', href: '{file}' }, { rel: 'describedby', href: '{schema}' }],
};

function view(i: Image): Record<string, unknown> {
  return {
    id: i.id, name: i.name, status: i.status, tags: [...i.tags], created_at: i.created_at, updated_at: i.created_at,
    visibility: 'public', protected: false, os_hidden: false, size: 1024, virtual_size: null, disk_format: 'qcow2',
    container_format: 'bare', min_disk: 0, min_ram: 0, owner: null, checksum: null,
    self: `/v2/images/${i.id}`, file: `/v2/images/${i.id}/file`, schema: '/v2/schemas/image',
  };
}

/** Glance v2 under /image: image list with tag/status filters and sort, image show, schema. */
export function registerGlance(scope: FastifyInstance, state: CloudState, baseUrl: () => string): void {
  const versions = async (): Promise<unknown> => ({ versions: [{ id: 'v2.15', status: 'CURRENT', links: [{ rel: 'self', href: `${baseUrl()}/image/v2/` }] }] });
  scope.get('/', versions);
  scope.get('/versions', versions);
  scope.get('/v2/schemas/image', async () => IMAGE_SCHEMA);
  scope.get('/v2/images', async (req: FastifyRequest) => {
    who(req);
    const q = req.query as Record<string, unknown>;
    const tags = queryList(q['tag']);
    const status = q['status'] === undefined ? undefined : String(q['status']);
    const name = q['name'] === undefined ? undefined : String(q['name']);
    let found = state.images.filter((i) => tags.every((t) => i.tags.includes(t)) && (status === undefined || i.status === status) && (name === undefined || i.name === name));
    const sort = q['sort'] === undefined ? 'created_at:desc' : String(q['sort']);
    const m = /^(created_at|name|id)(?::(asc|desc))?$/.exec(sort);
    if (m === null) throw new ApiError(400, `Invalid sort key: ${sort}`);
    const key = m[1] as 'created_at' | 'name' | 'id';
    found = [...found].sort((a, b) => (a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : 0) * (m[2] === 'asc' ? 1 : -1));
    const limit = q['limit'] === undefined ? undefined : Number(q['limit']);
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) throw new ApiError(400, 'limit param must be positive');
    return { images: found.slice(0, limit).map(view), first: '/v2/images', schema: '/v2/schemas/images' };
  });
  scope.get<{ Params: { id: string } }>('/v2/images/:id', async (req) => {
    who(req);
    const image = state.images.find((i) => i.id === req.params.id);
    if (image === undefined) throw new ApiError(404, `No image found with ID ${req.params.id}`);
    return view(image);
  });
}
