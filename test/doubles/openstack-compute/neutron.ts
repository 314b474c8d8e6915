import { randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, objectBody, optionalString, who } from './http';
import { now, type CloudState, type PortRecord, type SecurityGroupRecord, type SecurityGroupRule } from './state';

/** neutron's error body: `{"NeutronError": {"type": "PortNotFound", "message": ..., "detail": ""}}`. */
export function neutronError(reply: FastifyReply, error: ApiError): FastifyReply {
  return reply.code(error.status).send({ NeutronError: { type: error.kind || 'HTTPError', message: error.message, detail: '' } });
}

const KINDS: Record<string, [string, string]> = {
  network: ['Network', 'NetworkNotFound'],
  subnet: ['Subnet', 'SubnetNotFound'],
  port: ['Port', 'PortNotFound'],
  security_group: ['Security group', 'SecurityGroupNotFound'],
  security_group_rule: ['Security group rule', 'SecurityGroupRuleNotFound'],
};

function missing(kind: keyof typeof KINDS, id: string): ApiError {
  const [label, type] = KINDS[kind]!;
  return new ApiError(404, `${label} ${id} could not be found.`, type);
}

/** A port on the tenant network; neutron allocates its address when it is created. */
export function createPort(state: CloudState, projectId: string, spec: Record<string, unknown>): PortRecord {
  if (spec['network_id'] !== state.network.id) throw missing('network', String(spec['network_id']));
  const groups = Array.isArray(spec['security_groups']) ? spec['security_groups'].map(String) : [];
  for (const g of groups) if (!state.securityGroups.has(g)) throw missing('security_group', g);
  const mac = `fa:16:3e:${randomBytes(3).toString('hex').match(/../g)!.join(':')}`;
  const port: PortRecord = {
    id: randomUUID(), name: typeof spec['name'] === 'string' ? spec['name'] : '', description: typeof spec['description'] === 'string' ? spec['description'] : '',
    network_id: state.network.id, device_id: '', device_owner: '', mac_address: mac,
    fixed_ips: [{ subnet_id: state.network.subnetId, ip_address: state.nextAddress() }],
    security_groups: groups, project_id: projectId, tenant_id: projectId, status: 'DOWN', admin_state_up: true,
    created_at: now(), updated_at: now(),
  };
  state.ports.set(port.id, port);
  return port;
}

export function bindPort(state: CloudState, portId: string, serverId: string): void {
  const port = state.ports.get(portId);
  if (port === undefined) throw missing('port', portId);
  Object.assign(port, { device_id: serverId, device_owner: 'compute:nova', status: 'ACTIVE', updated_at: now() });
}

export function unbindPort(state: CloudState, portId: string): void {
  const port = state.ports.get(portId);
  if (port !== undefined) Object.assign(port, { device_id: '', device_owner: '', status: 'DOWN', updated_at: now() });
}

/** Neutron's list filters: every query parameter must equal the field (repeated = any of). */
function filtered<T extends object>(items: readonly T[], query: unknown): T[] {
  const q = Object.entries((query ?? {}) as Record<string, string | string[]>).filter(([k]) => !['fields', 'limit', 'marker', 'sort_key', 'sort_dir'].includes(k));
  return items.filter((item) => q.every(([k, v]) => {
    const value = (item as Record<string, unknown>)[k];
    const wanted = Array.isArray(v) ? v : [v];
    return wanted.some((w) => String(value) === w);
  }));
}

/** Neutron v2.0 under /network: the tenant network, its subnet, ports, security groups. */
export function registerNeutron(scope: FastifyInstance, state: CloudState, baseUrl: () => string): void {
  const versions = async (): Promise<unknown> => ({ versions: [{ id: 'v2.0', status: 'CURRENT', links: [{ rel: 'self', href: `${baseUrl()}/network/v2.0/` }] }] });
  scope.get('/', versions);
  scope.get('/v2.0', async () => ({ resources: [] }));

  const network = (): Record<string, unknown> => ({
    id: state.network.id, name: state.network.name, subnets: [state.network.subnetId], status: 'ACTIVE', admin_state_up: true,
    shared: true, 'router:external': false, mtu: 1500, project_id: 'e2e-admin', tenant_id: 'e2e-admin', availability_zones: ['nova'],
    port_security_enabled: true, 'provider:network_type': 'local', description: '', tags: [],
  });
  const subnet = (): Record<string, unknown> => ({
    id: state.network.subnetId, name: `${state.network.name}-subnet`, network_id: state.network.id, ip_version: 4,
    cidr: `${state.network.addressPrefix}.0/24`, gateway_ip: null, enable_dhcp: true, dns_nameservers: [], host_routes: [],
    allocation_pools: [{ start: `${state.network.addressPrefix}.${state.network.addressFirst}`, end: `${state.network.addressPrefix}.254` }],
    project_id: 'e2e-admin', tenant_id: 'e2e-admin', description: '', tags: [],
  });
  scope.get('/v2.0/networks', async (req) => ({ networks: filtered([network()], req.query) }));
  scope.get<{ Params: { id: string } }>('/v2.0/networks/:id', async (req) => {
    if (req.params.id !== state.network.id) throw missing('network', req.params.id);
    return { network: network() };
  });
  scope.get('/v2.0/subnets', async (req) => ({ subnets: filtered([subnet()], req.query) }));
  scope.get<{ Params: { id: string } }>('/v2.0/subnets/:id', async (req) => {
    if (req.params.id !== state.network.subnetId) throw missing('subnet', req.params.id);
    return { subnet: subnet() };
  });

  const mine = (req: FastifyRequest, projectId: string): boolean => projectId === who(req).projectId || who(req).roles.includes('admin');
  const portOf = (req: FastifyRequest, id: string): PortRecord => {
    const port = state.ports.get(id);
    if (port === undefined || !mine(req, port.project_id)) throw missing('port', id);
    return port;
  };
  scope.get('/v2.0/ports', async (req) => ({ ports: filtered([...state.ports.values()].filter((p) => mine(req, p.project_id)), req.query) }));
  scope.get<{ Params: { id: string } }>('/v2.0/ports/:id', async (req) => ({ port: portOf(req, req.params.id) }));
  scope.post('/v2.0/ports', async (req, reply) => reply.code(201).send({ port: createPort(state, who(req).projectId, objectBody(req, 'port')) }));
  scope.put<{ Params: { id: string } }>('/v2.0/ports/:id', async (req) => {
    const port = portOf(req, req.params.id);
    const spec = objectBody(req, 'port');
    for (const key of ['name', 'description'] as const) {
      const value = optionalString(spec, key);
      if (value !== undefined) port[key] = value;
    }
    if (Array.isArray(spec['security_groups'])) {
      for (const g of spec['security_groups']) if (!state.securityGroups.has(String(g))) throw missing('security_group', String(g));
      port.security_groups = spec['security_groups'].map(String);
    }
    port.updated_at = now();
    return { port };
  });
  scope.delete<{ Params: { id: string } }>('/v2.0/ports/:id', async (req, reply) => {
    portOf(req, req.params.id);
    state.ports.delete(req.params.id);
    return reply.code(204).send();
  });

  const groupOf = (req: FastifyRequest, id: string): SecurityGroupRecord => {
    const group = state.securityGroups.get(id);
    if (group === undefined || !mine(req, group.project_id)) throw missing('security_group', id);
    return group;
  };
  scope.get('/v2.0/security-groups', async (req) => ({ security_groups: filtered([...state.securityGroups.values()].filter((g) => mine(req, g.project_id)), req.query) }));
  scope.get<{ Params: { id: string } }>('/v2.0/security-groups/:id', async (req) => ({ security_group: groupOf(req, req.params.id) }));
  scope.post('/v2.0/security-groups', async (req, reply) => {
    const spec = objectBody(req, 'security_group');
    const projectId = who(req).projectId;
    const id = randomUUID();
    const egress = (ethertype: string): SecurityGroupRule => ({
      id: randomUUID(), security_group_id: id, direction: 'egress', ethertype, protocol: null, port_range_min: null, port_range_max: null,
      remote_ip_prefix: null, remote_group_id: null, project_id: projectId, tenant_id: projectId,
    });
    const group: SecurityGroupRecord = {
      id, name: optionalString(spec, 'name') ?? '', description: optionalString(spec, 'description') ?? '',
      project_id: projectId, tenant_id: projectId, security_group_rules: [egress('IPv4'), egress('IPv6')],
    };
    state.securityGroups.set(id, group);
    return reply.code(201).send({ security_group: group });
  });
  scope.delete<{ Params: { id: string } }>('/v2.0/security-groups/:id', async (req, reply) => {
    const group = groupOf(req, req.params.id);
    if ([...state.ports.values()].some((p) => p.security_groups.includes(group.id))) throw new ApiError(409, `Security Group ${group.id} in use.`, 'SecurityGroupInUse');
    state.securityGroups.delete(group.id);
    return reply.code(204).send();
  });
  scope.post('/v2.0/security-group-rules', async (req, reply) => {
    const spec = objectBody(req, 'security_group_rule');
    const group = groupOf(req, String(spec['security_group_id']));
    const direction = optionalString(spec, 'direction');
    if (direction !== 'ingress' && direction !== 'egress') throw new ApiError(400, `Invalid input for direction. Reason: '${String(direction)}' is not in ['ingress', 'egress'].`, 'HTTPBadRequest');
    const num = (k: string): number | null => (spec[k] === undefined || spec[k] === null ? null : Number(spec[k]));
    const rule: SecurityGroupRule = {
      id: randomUUID(), security_group_id: group.id, direction, ethertype: optionalString(spec, 'ethertype') ?? 'IPv4',
      protocol: optionalString(spec, 'protocol') ?? null, port_range_min: num('port_range_min'), port_range_max: num('port_range_max'),
      remote_ip_prefix: optionalString(spec, 'remote_ip_prefix') ?? null, remote_group_id: optionalString(spec, 'remote_group_id') ?? null,
      project_id: group.project_id, tenant_id: group.project_id,
    };
    group.security_group_rules.push(rule);
    return reply.code(201).send({ security_group_rule: rule });
  });
  scope.delete<{ Params: { id: string } }>('/v2.0/security-group-rules/:id', async (req, reply) => {
    for (const group of state.securityGroups.values()) {
      const before = group.security_group_rules.length;
      group.security_group_rules = group.security_group_rules.filter((r) => r.id !== req.params.id);
      if (group.security_group_rules.length !== before) return reply.code(204).send();
    }
    throw missing('security_group_rule', req.params.id);
  });

  scope.get('/v2.0/floatingips', async () => ({ floatingips: [] }));
  scope.get('/v2.0/routers', async () => ({ routers: [] }));
  scope.get('/v2.0/extensions', async () => ({ extensions: [] }));
  scope.get('/v2.0/quotas/:project', async () => ({ quota: { network: 10, subnet: 10, port: 100, router: 0, floatingip: 0, security_group: 10, security_group_rule: 100 } }));
}
