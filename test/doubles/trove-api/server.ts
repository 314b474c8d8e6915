import { randomBytes } from 'node:crypto';
import Ajv from 'ajv';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { RUNNING_STATES, TroveState } from './state';

/**
 * A Keystone v3 + Trove 18 backup-API double on 127.0.0.1, one port for both (the catalog points
 * back at it). Routes, status codes and bodies follow Trove's source: trove/common/api.py
 * (routes), trove/backup/service.py (202 on create and delete, 200 on list and show),
 * trove/common/apischema.py (the create body), trove/common/pagination.py (offset markers and
 * `links`), trove/common/wsgi.py (fault bodies) and keystonemiddleware's 401.
 */

export interface TroveApiDoubleOptions {
  projectId: string;
  appCredId: string;
  appCredSecret: string;
  /** Token lifetime (default 1 h). */
  tokenTtlMs?: number;
  /** backups_page_size (Trove's default 20). */
  pageSize?: number;
  /** Clock for timestamps and token expiry (default real time). */
  now?: () => Date;
  /** When set, a GET of a running backup moves it to this status (stands in for the guest). */
  finishOnShow?: 'COMPLETED' | 'FAILED';
}

const uuid = { type: 'string', minLength: 1, maxLength: 64, pattern: '^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$' };
const nonEmpty = { type: 'string', minLength: 1, maxLength: 255, pattern: '^.*[0-9a-zA-Z]+.*$' };
const createSchema = {
  type: 'object',
  required: ['backup'],
  properties: {
    backup: {
      type: 'object',
      required: ['name'],
      properties: { description: nonEmpty, instance: uuid, name: nonEmpty, parent_id: uuid, incremental: { type: 'integer', minimum: 0, maximum: 1 }, swift_container: nonEmpty },
    },
  },
};
const validateCreate = new Ajv({ allErrors: false }).compile(createSchema);

type Req = FastifyRequest<{ Params: Record<string, string>; Querystring: Record<string, string> }>;

function fault(reply: FastifyReply, code: number, name: string, message: string): FastifyReply {
  return reply.code(code).send({ [name]: { code, message } });
}

export class TroveApiDouble {
  readonly state: TroveState;
  /** Issued tokens → expiry; `revokeTokens()` empties it (Keystone restarted, token revoked). */
  private readonly tokens = new Map<string, number>();
  private readonly app: FastifyInstance;
  private readonly now: () => Date;
  /** Every request, `METHOD path?query` and its status, for tests that check what was sent. */
  readonly seen: { method: string; url: string; status: number }[] = [];
  private base = '';
  tokensIssued = 0;

  constructor(private readonly o: TroveApiDoubleOptions) {
    this.now = o.now ?? (() => new Date());
    this.state = new TroveState(this.now);
    this.app = Fastify({ logger: false });
    this.app.addHook('onResponse', async (req, reply) => {
      this.seen.push({ method: req.method, url: req.url, status: reply.statusCode });
    });
    this.app.post('/v3/auth/tokens', async (req, reply) => this.issueToken(req, reply));
    this.app.register(async (trove) => {
      trove.addHook('onRequest', async (req: Req, reply) => this.authorize(req, reply));
      trove.get('/v1.0/:tenant/backups', async (req: Req, reply) => this.list(req, reply));
      trove.post('/v1.0/:tenant/backups', async (req: Req, reply) => this.create(req, reply));
      trove.get('/v1.0/:tenant/backups/:id', async (req: Req, reply) => this.show(req, reply));
      trove.delete('/v1.0/:tenant/backups/:id', async (req: Req, reply) => this.remove(req, reply));
    });
  }

  async start(): Promise<string> {
    await this.app.listen({ host: '127.0.0.1', port: 0 });
    const address = this.app.server.address();
    this.base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    return this.base;
  }

  async stop(): Promise<void> {
    await this.app.close();
  }

  /** Every token now gets 401 from Trove, as after a revocation. */
  revokeTokens(): void {
    this.tokens.clear();
  }

  private issueToken(req: FastifyRequest, reply: FastifyReply): FastifyReply {
    const body = req.body as { auth?: { identity?: { methods?: unknown; application_credential?: { id?: unknown; secret?: unknown } } } };
    const identity = body?.auth?.identity;
    const cred = identity?.application_credential;
    if (!Array.isArray(identity?.methods) || !identity.methods.includes('application_credential') || !cred) {
      return reply.code(400).send({ error: { code: 400, title: 'Bad Request', message: 'Invalid input for field identity' } });
    }
    if (cred.id !== this.o.appCredId || cred.secret !== this.o.appCredSecret) {
      return reply.code(401).send({ error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } });
    }
    const token = `gAAAA${randomBytes(24).toString('hex')}`;
    const issued = this.now();
    const expires = new Date(issued.getTime() + (this.o.tokenTtlMs ?? 3_600_000));
    this.tokens.set(token, expires.getTime());
    this.tokensIssued += 1;
    const endpoint = (iface: string, url: string) => ({ id: randomBytes(16).toString('hex'), interface: iface, region_id: 'RegionOne', region: 'RegionOne', url });
    return reply
      .code(201)
      .header('X-Subject-Token', token)
      .send({
        token: {
          methods: ['application_credential'],
          user: { id: 'u1', name: 'trove-scheduler', domain: { id: 'default', name: 'Default' } },
          project: { id: this.o.projectId, name: 'dbaas', domain: { id: 'default', name: 'Default' } },
          expires_at: expires.toISOString().replace('Z', '000Z'),
          issued_at: issued.toISOString().replace('Z', '000Z'),
          application_credential: { id: this.o.appCredId, name: 'scheduler', restricted: true },
          catalog: [
            { type: 'identity', name: 'keystone', id: 'k', endpoints: [endpoint('public', `${this.base}/v3`)] },
            {
              type: 'database',
              name: 'trove',
              id: 't',
              endpoints: [endpoint('public', `${this.base}/v1.0/${this.o.projectId}`), endpoint('internal', `${this.base}/v1.0/${this.o.projectId}`)],
            },
          ],
        },
      });
  }

  /** keystonemiddleware: a missing, unknown or expired token → 401 before Trove sees the request. */
  private async authorize(req: Req, reply: FastifyReply): Promise<void> {
    const token = req.headers['x-auth-token'];
    const expiry = typeof token === 'string' ? this.tokens.get(token) : undefined;
    if (expiry === undefined || expiry <= this.now().getTime()) {
      await reply
        .code(401)
        .header('WWW-Authenticate', `Keystone uri="${this.base}/v3"`)
        .send({ error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } });
      return;
    }
    if (req.params['tenant'] !== this.o.projectId) {
      await fault(reply, 403, 'forbidden', `User does not have admin privileges.`);
    }
  }

  private list(req: Req, reply: FastifyReply): FastifyReply {
    const q = req.query;
    const rows = this.state
      .live(this.o.projectId)
      .filter((b) => !q['instance_id'] || b.instanceId === q['instance_id'])
      .sort((a, b) => b.updated.getTime() - a.updated.getTime());
    const offset = Number(q['marker'] ?? 0);
    const limit = Number(q['limit'] ?? this.o.pageSize ?? 20);
    const page = rows.slice(offset, offset + limit);
    // As Backup._paginate: a full page always gets a next marker, even when nothing follows.
    const body: Record<string, unknown> = { backups: page.map((b) => this.state.view(b)) };
    if (page.length >= limit) {
      const next = new URL(req.url, this.base);
      next.searchParams.set('marker', String(offset + limit));
      body['links'] = [{ rel: 'next', href: next.toString() }];
    }
    return reply.code(200).send(body);
  }

  private create(req: Req, reply: FastifyReply): FastifyReply {
    if (!validateCreate(req.body)) {
      const e = validateCreate.errors?.[0];
      return fault(reply, 400, 'badRequest', `Validation error: ${e?.instancePath ?? ''} ${e?.message ?? ''}`.trim());
    }
    const data = (req.body as { backup: Record<string, string | undefined> }).backup;
    const instanceId = data['instance'];
    if (!instanceId) return fault(reply, 400, 'badRequest', 'Unable to create Backup. instance is missing.');
    const instance = this.state.instances.get(instanceId);
    if (!instance || instance.projectId !== this.o.projectId) {
      return fault(reply, 404, 'itemNotFound', `Instance ${instanceId} could not be found.`);
    }
    const running = this.state.live(this.o.projectId).some((b) => b.instanceId === instanceId && RUNNING_STATES.includes(b.status));
    if (!['ACTIVE', 'HEALTHY'].includes(instance.status) || running) {
      const status = running ? 'BACKUP' : instance.status;
      return fault(reply, 422, 'unprocessableEntity', `Instance ${instanceId} is not currently available for an action to be performed (instance status was ${status}).`);
    }
    const now = this.now();
    const row = this.state.addBackup({
      name: data['name'] as string,
      description: data['description'] ?? null,
      instanceId,
      projectId: this.o.projectId,
      status: 'NEW',
      created: now,
      size: null,
      swiftContainer: data['swift_container'] ?? null,
    });
    return reply.code(202).send({ backup: this.state.view(row) });
  }

  private show(req: Req, reply: FastifyReply): FastifyReply {
    const row = this.state.find(this.o.projectId, req.params['id'] ?? '');
    if (!row) return fault(reply, 404, 'itemNotFound', `Resource ${req.params['id']} cannot be found.`);
    if (this.o.finishOnShow && RUNNING_STATES.includes(row.status)) this.state.setStatus(row.id, this.o.finishOnShow);
    return reply.code(200).send({ backup: this.state.view(row) });
  }

  private remove(req: Req, reply: FastifyReply): FastifyReply {
    const row = this.state.find(this.o.projectId, req.params['id'] ?? '');
    if (!row) return fault(reply, 404, 'itemNotFound', `Resource ${req.params['id']} cannot be found.`);
    if (RUNNING_STATES.includes(row.status)) {
      return fault(reply, 422, 'unprocessableEntity', `Backup ${row.id} cannot be deleted because it is running.`);
    }
    row.deleted = true;
    return reply.code(202).send();
  }
}
