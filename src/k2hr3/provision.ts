import { K2hr3Error } from '../errors';
import type { Logger } from '../log';
import { checkBaseUrl, type K2hr3ClientOptions } from './client';
import type { ExtdataBootstrap } from './extdata';
import { K2hr3Http, type K2hr3Answer, type K2hr3Request } from './http';
import {
  type K2hr3Schema,
  RESULT_SCHEMA,
  ROLE_TOKEN_SCHEMA,
  type RoleTokenBody,
  USER_POLICY_SCHEMA,
  USER_RESOURCE_SCHEMA,
  USER_ROLE_SCHEMA,
  USER_LIST_SCHEMA,
  USER_TOKEN_SCHEMA,
  type UserListBody,
  type UserTokenBody,
} from './schemas';
import { buildYrn, parseYrn, yrnUrlPath } from './yrn';

/**
 * Self-provisioning (issue 3 item 1b): with the user's Keystone token, make sure the cluster's
 * K2HR3 objects exist the way the DBaaS tooling lays them out (spec §1.5), then create this
 * node's role token. Every member of a new cluster may run this at the same moment, so each
 * object is read first, created only when missing, and read again after the write; a write
 * that loses a race ("already exists", 409) is fine when the re-read finds the object. K2HR3's
 * POSTs are upserts, so two racing creators write the same content and nothing is lost; an
 * object that exists is never rewritten (an operator may have changed it, and a role rewrite
 * must not touch its registered hosts).
 *
 * Two facts of the real K2HR3 (spec §10) shape this: it stores tenant and object names
 * lower-cased while the template's role references are resolved as written, so names are
 * lower-cased here before they go anywhere; and `GET /v1/policy/<missing>` answers 400 and
 * `GET /v1/role/<missing>` 200 with empty data, so policies and roles are looked up in the
 * parent's child list (`GET /v1/list/...`), which names only what exists.
 */

/** Ports the DBaaS template reads from the `<cluster>` resource keys. */
export interface ClusterPorts {
  serverPort: number;
  serverCtlport: number;
  slaveCtlport: number;
}

/** The DBaaS defaults (spec §1.5). */
export const DEFAULT_CLUSTER_PORTS: Readonly<ClusterPorts> = Object.freeze({
  serverPort: 8020,
  serverCtlport: 8021,
  slaveCtlport: 8031,
});

/** What to provision. */
export interface ProvisionRequest {
  /** K2HR3 tenant = Keystone project name the user token is scoped to (any letter case). */
  tenant: string;
  /** Any letter case; K2HR3 keeps it lower-cased. */
  cluster: string;
  /**
   * The INI template (K2HR3 template language) stored as the `<cluster>` resource string.
   * `__TROVE_K2HDKC_TENANT_NAME__` and `__TROVE_K2HDKC_CLUSTER_NAME__` are replaced first, as
   * the Trove dashboard did.
   */
  template: string;
  /** Which role this node joins: `<cluster>/server` or `<cluster>/slave`. */
  mode: 'server' | 'slave';
  ports?: ClusterPorts;
  /** Role token lifetime in seconds; 0 (default) = K2HR3's "no expiry" (~10 years), as DBaaS does. */
  roleTokenExpireSec?: number;
}

/** The result: the same triple the extdata path yields, plus the resource this node reads. */
export interface ProvisionResult extends ExtdataBootstrap {
  resourceYrn: string;
  /** The role token's register path (opaque): what an extdata URL carries (k2hdkc-dbaas user-data). */
  registerPath: string;
}

const READ_ACTION = 'yrn:yahoo::::action:read';

/** Runs the provisioning steps against one K2HR3 API. */
export class K2hr3Provisioner {
  private readonly apiUrl: string;
  private readonly http: K2hr3Http;
  private readonly log: Logger | undefined;

  constructor(options: K2hr3ClientOptions) {
    this.apiUrl = checkBaseUrl(options.apiUrl);
    this.http = new K2hr3Http(options);
    this.log = options.log;
  }

  /**
   * Ensures resources `<cluster>`, `<cluster>/server`, `<cluster>/slave`, policy `<cluster>`,
   * roles `<cluster>` (with the policy), `<cluster>/server`, `<cluster>/slave`, then creates a
   * role token for the node's role. Throws K2hr3Error.
   */
  async provision(keystoneToken: string, req: ProvisionRequest, signal?: AbortSignal): Promise<ProvisionResult> {
    const tenant = req.tenant.toLowerCase();
    const cluster = req.cluster.toLowerCase();
    const ports = req.ports ?? DEFAULT_CLUSTER_PORTS;
    const yrn = (kind: 'role' | 'resource' | 'policy', path: string): string => buildYrn(tenant, kind, path);
    // Keystone matches the project name as the user has it; K2HR3 answers with its own case.
    const userToken = await this.scopedUserToken(keystoneToken, req.tenant, signal);
    const u = { token: userToken, signal };

    const template = req.template
      .split('__TROVE_K2HDKC_TENANT_NAME__').join(tenant)
      .split('__TROVE_K2HDKC_CLUSTER_NAME__').join(cluster);
    await this.ensure(u, 'resource', yrn('resource', cluster), USER_RESOURCE_SCHEMA, {
      resource: {
        name: yrn('resource', cluster),
        type: 'string',
        data: template,
        keys: {
          'cluster-name': cluster,
          'chmpx-server-port': String(ports.serverPort),
          'chmpx-server-ctlport': String(ports.serverCtlport),
          'chmpx-slave-ctlport': String(ports.slaveCtlport),
        },
      },
    });
    for (const [child, mode] of [['server', 'SERVER'], ['slave', 'SLAVE']] as const) {
      await this.ensure(u, 'resource', yrn('resource', `${cluster}/${child}`), USER_RESOURCE_SCHEMA, {
        resource: { name: yrn('resource', `${cluster}/${child}`), type: 'string', data: '', keys: { 'chmpx-mode': mode } },
      });
    }
    await this.ensure(u, 'policy', yrn('policy', cluster), USER_POLICY_SCHEMA, {
      policy: {
        name: yrn('policy', cluster),
        effect: 'allow',
        action: [READ_ACTION],
        resource: [yrn('resource', `${cluster}/server`), yrn('resource', `${cluster}/slave`)],
      },
    });
    // Parent first: the children inherit its policy (spec §1.3.4).
    await this.ensure(u, 'role', yrn('role', cluster), USER_ROLE_SCHEMA, {
      role: { name: yrn('role', cluster), policies: [yrn('policy', cluster)], alias: [] },
    });
    for (const child of ['server', 'slave']) {
      await this.ensure(u, 'role', yrn('role', `${cluster}/${child}`), USER_ROLE_SCHEMA, {
        role: { name: yrn('role', `${cluster}/${child}`), policies: [], alias: [] },
      });
    }

    const roleYrn = yrn('role', `${cluster}/${req.mode}`);
    const issued = await this.issueRoleToken(userToken, roleYrn, req.roleTokenExpireSec ?? 0, signal);
    return { roleYrn, tenant, roleToken: issued.token, registerPath: issued.registerpath, apiUrl: this.apiUrl, resourceYrn: yrn('resource', `${cluster}/${req.mode}`) };
  }

  /** `POST /v1/user/tokens` with `U=<keystone token>` and the tenant → a scoped K2HR3 user token. */
  async scopedUserToken(keystoneToken: string, tenant: string, signal?: AbortSignal): Promise<string> {
    const url = `${this.apiUrl}/v1/user/tokens`;
    const answer = await this.userSend({ token: keystoneToken, signal }, {
      method: 'POST',
      url,
      endpoint: `POST ${url}`,
      data: { auth: { tenantName: tenant } },
      okStatus: 201,
      body: 'json',
      schema: USER_TOKEN_SCHEMA,
    });
    const body = answer.value as UserTokenBody;
    if (!body.scoped) {
      throw new K2hr3Error('auth', `K2HR3 POST ${url} gave a token not scoped to tenant ${tenant}`, { endpoint: `POST ${url}`, status: 201 });
    }
    return body.token;
  }

  /** `GET /v1/role/token/<role yrn>?expire=<sec>` with `U=` → the bare role token. */
  async createRoleToken(userToken: string, roleYrn: string, expireSec: number, signal?: AbortSignal): Promise<string> {
    return (await this.issueRoleToken(userToken, roleYrn, expireSec, signal)).token;
  }

  /** The same request; the token with its register path. */
  async issueRoleToken(userToken: string, roleYrn: string, expireSec: number, signal?: AbortSignal): Promise<RoleTokenBody> {
    const url = `${this.apiUrl}/v1/role/token/${yrnUrlPath(roleYrn)}`;
    const answer = await this.userSend({ token: userToken, signal }, {
      method: 'GET',
      url,
      endpoint: `GET ${url}`,
      params: { expire: String(expireSec) },
      okStatus: 200,
      body: 'json',
      schema: ROLE_TOKEN_SCHEMA,
    });
    return answer.value as RoleTokenBody;
  }

  /** One request with `U=<token>` (a Keystone token or a scoped user token), which never goes into a message. */
  private userSend(u: { token: string; signal: AbortSignal | undefined }, req: Omit<K2hr3Request, 'headers' | 'secrets' | 'signal'>): Promise<K2hr3Answer> {
    return this.http.send({
      ...req,
      headers: { 'x-auth-token': `U=${u.token}`, 'Content-Type': 'application/json' },
      secrets: [u.token],
      ...(u.signal ? { signal: u.signal } : {}),
    });
  }

  /** Read; create when missing; read again. */
  private async ensure(
    u: { token: string; signal: AbortSignal | undefined },
    kind: 'resource' | 'policy' | 'role',
    name: string,
    schema: K2hr3Schema,
    body: unknown,
  ): Promise<void> {
    if (await this.exists(u, kind, name, schema)) return;
    this.log?.info({ kind, name }, 'K2HR3 object missing, creating it');
    const url = `${this.apiUrl}/v1/${kind}`;
    const endpoint = `POST ${url} (${name})`;
    let lostRace: K2hr3Error | undefined;
    try {
      await this.userSend(u, { method: 'POST', url, endpoint, data: body, okStatus: 201, body: 'json', schema: RESULT_SCHEMA });
      this.log?.info({ kind, name }, 'K2HR3 object created');
    } catch (err) {
      // Another member created it between our read and our write.
      if (!(err instanceof K2hr3Error) || err.kind !== 'bad_request') throw err;
      lostRace = err;
    }
    if (!(await this.exists(u, kind, name, schema))) {
      throw (
        lostRace ??
        new K2hr3Error('bad_response', `K2HR3 accepted ${kind} ${name} but does not show it when read back`, {
          endpoint,
        })
      );
    }
    if (lostRace) this.log?.info({ kind, name }, 'K2HR3 object created concurrently by another member');
  }

  /**
   * Whether the object `name` (a full yrn) exists, as the user of `userToken` sees it: a resource
   * by GET (404 = no; its body checked with `schema` when given), a role or policy by its parent's
   * list (K2HR3 answers a missing role 200 and a missing policy 400).
   */
  async objectExists(userToken: string, kind: 'resource' | 'policy' | 'role', name: string, schema?: K2hr3Schema, signal?: AbortSignal): Promise<boolean> {
    return this.exists({ token: userToken, signal }, kind, name, schema);
  }

  private async exists(
    u: { token: string; signal: AbortSignal | undefined },
    kind: 'resource' | 'policy' | 'role',
    name: string,
    schema: K2hr3Schema | undefined,
  ): Promise<boolean> {
    if (kind !== 'resource') return this.listed(u, kind, name);
    const url = `${this.apiUrl}/v1/${kind}/${yrnUrlPath(name)}`;
    const read = schema === undefined ? ({ body: 'empty' } as const) : ({ body: 'json', schema } as const);
    const answer = await this.userSend(u, { method: 'GET', url, endpoint: `GET ${url}`, params: { expand: 'false' }, okStatus: 200, ...read, notFoundOk: true });
    return answer.status === 200;
  }

  /** Whether `GET /v1/list/<kind>[/<parent>]` names the object (a missing parent lists nothing). */
  private async listed(u: { token: string; signal: AbortSignal | undefined }, kind: 'policy' | 'role', name: string): Promise<boolean> {
    const parsed = parseYrn(name);
    if (!parsed) throw new K2hr3Error('bad_request', `${JSON.stringify(name)} is not a full K2HR3 name`, { endpoint: '-' });
    const slash = parsed.path.lastIndexOf('/');
    const parent = slash === -1 ? '' : `/${parsed.path.slice(0, slash).split('/').map(encodeURIComponent).join('/')}`;
    const child = parsed.path.slice(slash + 1);
    const url = `${this.apiUrl}/v1/list/${kind}${parent}`;
    const answer = await this.userSend(u, { method: 'GET', url, endpoint: `GET ${url}`, okStatus: 200, body: 'json', schema: USER_LIST_SCHEMA });
    return (answer.value as UserListBody).children.some((c) => c.name === child);
  }
}
