import { K2hr3Error } from '../errors';
import { K2hr3Http, type K2hr3Answer, type K2hr3Request } from '../k2hr3/http';
import { DEFAULT_CLUSTER_PORTS, K2hr3Provisioner, type ClusterPorts, type ProvisionResult } from '../k2hr3/provision';
import { USER_RESOURCE_SCHEMA, USER_ROLE_SCHEMA } from '../k2hr3/schemas';
import { buildYrn, yrnUrlPath } from '../k2hr3/yrn';
import { CliError } from './errors';

/**
 * What the CLI asks of K2HR3 as the user (spec §1): a scoped user token from the Keystone
 * token, the cluster's objects (src/k2hr3/provision.ts), a role token's register path for
 * user-data, the hosts registered in a role, and removal of hosts and of the whole cluster.
 */

/** A host registered in a role, from the `hosts.ips` strings of GET /v1/role (`ip port cuk extra tag ...`). */
export interface RoleHost {
  ip: string;
  /** 0 = any port (`*`). */
  port: number;
  cuk: string;
  tag: string;
}

export interface ClusterRoles {
  servers: RoleHost[];
  slaves: RoleHost[];
  ports: ClusterPorts;
}

const ROLE_CHILDREN = ['server', 'slave'] as const;

/** K2HR3 errors become CliErrors with the same message; K2HR3's not-found stays not_found. */
export function fromK2hr3(error: unknown): never {
  if (error instanceof K2hr3Error) throw new CliError(error.kind === 'not_found' ? 'not_found' : 'service', error.message, { cause: error });
  throw error;
}

export function parseRoleHost(line: string): RoleHost | null {
  const [ip, port, cuk, , tag] = line.trim().split(/\s+/);
  if (ip === undefined || ip === '') return null;
  const p = port === undefined || port === '*' ? 0 : Number(port);
  return { ip, port: Number.isInteger(p) ? p : 0, cuk: cuk ?? '', tag: tag ?? '' };
}

/**
 * Facts of the real K2HR3 (spec §10) this follows: tenant and object names are stored
 * lower-cased; `GET /v1/role/<missing>` answers 200 with empty data and `GET /v1/policy/<missing>`
 * 400, so whether a role or policy exists is read from its parent's `GET /v1/list/...`.
 */
export class K2hr3User {
  private readonly provisioner: K2hr3Provisioner;
  private readonly http: K2hr3Http;
  private userToken: string | undefined;
  /** The K2HR3 tenant: the Keystone project name, lower-cased as K2HR3 keeps it. */
  readonly tenant: string;

  constructor(
    readonly apiUrl: string,
    private readonly keystoneToken: string,
    /** The Keystone project name as Keystone spells it (K2HR3 asks Keystone with it). */
    private readonly projectName: string,
  ) {
    this.provisioner = new K2hr3Provisioner({ apiUrl, attempts: 3 });
    this.http = new K2hr3Http({ attempts: 3 });
    this.tenant = projectName.toLowerCase();
  }

  private async token(): Promise<string> {
    this.userToken ??= await this.provisioner.scopedUserToken(this.keystoneToken, this.projectName).catch(fromK2hr3);
    return this.userToken;
  }

  /** One request to `/v1/<kind>/<the object's yrn>` with the scoped user token. */
  private async userRequest(
    method: 'GET' | 'DELETE',
    target: { readonly kind: 'role' | 'resource' | 'policy'; readonly path: string },
    rest: Omit<K2hr3Request, 'method' | 'url' | 'endpoint' | 'headers' | 'secrets'>,
  ): Promise<K2hr3Answer> {
    const url = `${this.apiUrl}/v1/${target.kind}/${yrnUrlPath(this.yrn(target.kind, target.path))}`;
    const token = await this.token();
    return this.http.send({ ...rest, method, url, endpoint: `${method} ${url}`, headers: { 'x-auth-token': `U=${token}` }, secrets: [token] }).catch(fromK2hr3);
  }

  /** Whether a K2HR3 object exists: a resource by GET (404 = no), a role or policy by its parent's list. */
  async exists(kind: 'role' | 'resource' | 'policy', path: string): Promise<boolean> {
    return this.provisioner.objectExists(await this.token(), kind, this.yrn(kind, path)).catch(fromK2hr3);
  }

  yrn(kind: 'role' | 'resource' | 'policy', path: string): string {
    return buildYrn(this.tenant, kind, path);
  }

  /** The cluster's resources, policy and roles (made when missing), and a `<cluster>/<mode>` role token. */
  async provision(cluster: string, template: string, ports: ClusterPorts, mode: 'server' | 'slave'): Promise<ProvisionResult> {
    return this.provisioner.provision(this.keystoneToken, { tenant: this.tenant, cluster, template, mode, ports }).catch(fromK2hr3);
  }

  /** A user-made role token of `<cluster>/<child>` (no expiry, as DBaaS makes them) and its register path. */
  async roleToken(cluster: string, child: 'server' | 'slave'): Promise<{ token: string; registerpath: string }> {
    return this.provisioner.issueRoleToken(await this.token(), this.yrn('role', `${cluster}/${child}`), 0).catch(fromK2hr3);
  }

  /** Whether role `path` exists. */
  async roleExists(path: string): Promise<boolean> {
    return this.exists('role', path);
  }

  /** Hosts of `<cluster>/server` and `<cluster>/slave`, and the ports in the `<cluster>` resource; null when the cluster is unknown. */
  async clusterRoles(cluster: string): Promise<ClusterRoles | null> {
    const [base, server, slave] = await Promise.all([this.getRole(cluster), this.getRole(`${cluster}/server`), this.getRole(`${cluster}/slave`)]);
    if (base === null || server === null || slave === null) return null;
    return { servers: server, slaves: slave, ports: await this.ports(cluster) };
  }

  /** The chmpx ports kept in the `<cluster>` resource keys (the defaults where a key is missing). */
  async ports(cluster: string): Promise<ClusterPorts> {
    const answer = await this.userRequest('GET', { kind: 'resource', path: cluster }, { params: { expand: 'false' }, okStatus: 200, body: 'json', schema: USER_RESOURCE_SCHEMA, notFoundOk: true });
    const keys = (answer.value as { resource?: { keys?: Record<string, unknown> } } | undefined)?.resource?.keys ?? {};
    const port = (key: string, fallback: number): number => {
      const n = Number(keys[key]);
      return Number.isInteger(n) && n > 0 && n < 65536 ? n : fallback;
    };
    return {
      serverPort: port('chmpx-server-port', DEFAULT_CLUSTER_PORTS.serverPort),
      serverCtlport: port('chmpx-server-ctlport', DEFAULT_CLUSTER_PORTS.serverCtlport),
      slaveCtlport: port('chmpx-slave-ctlport', DEFAULT_CLUSTER_PORTS.slaveCtlport),
    };
  }

  /** The hosts of role `path`, or null when the role does not exist. */
  async getRole(path: string): Promise<RoleHost[] | null> {
    if (!(await this.exists('role', path))) return null;
    const answer = await this.userRequest('GET', { kind: 'role', path }, { params: { expand: 'false' }, okStatus: 200, body: 'json', schema: USER_ROLE_SCHEMA, notFoundOk: true });
    if (answer.status === 404) return null;
    const ips = (answer.value as { role?: { hosts?: { ips?: unknown } } }).role?.hosts?.ips;
    if (!Array.isArray(ips)) return [];
    return ips.filter((x): x is string => typeof x === 'string').map(parseRoleHost).filter((h): h is RoleHost => h !== null);
  }

  /** Removes one host entry (`host`, `port`, `cuk`) from role `path`. */
  async removeHost(path: string, host: RoleHost): Promise<void> {
    await this.userRequest('DELETE', { kind: 'role', path }, { params: { host: host.ip, port: String(host.port), cuk: host.cuk }, okStatus: 204, body: 'empty' });
  }

  /**
   * Removes the cluster's roles (children first), resources and policy. Each object is read
   * first, so what is already gone is skipped; returns what was removed.
   */
  async deleteCluster(cluster: string): Promise<string[]> {
    const removed: string[] = [];
    const objects: ['role' | 'resource' | 'policy', string][] = [
      ...ROLE_CHILDREN.map((c) => ['role', `${cluster}/${c}`] as ['role', string]),
      ['role', cluster],
      ...ROLE_CHILDREN.map((c) => ['resource', `${cluster}/${c}`] as ['resource', string]),
      ['resource', cluster],
      ['policy', cluster],
    ];
    for (const [kind, path] of objects) {
      if (!(await this.exists(kind, path))) continue;
      await this.userRequest('DELETE', { kind, path }, { okStatus: 204, body: 'empty' });
      removed.push(`${kind} ${path}`);
    }
    return removed;
  }
}
