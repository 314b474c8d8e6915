import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * A Keystone v3 double for token validation, `GET /v3/auth/tokens`, as Keystone answers it
 * (keystone/api/auth.py AuthTokenResource.get, keystone/common/policies/token.py):
 * - X-Auth-Token missing or unknown: 401 with Keystone's `{"error": {code, message, title}}`;
 * - X-Subject-Token missing: 400; unknown or expired: 404 "Could not find token" (before policy);
 * - policy identity:validate_token (default: admin, service, or the token's own user): a user
 *   validating another user's token gets 403; `selfValidation: false` stands for a cloud whose
 *   policy forbids even that;
 * - 200 with the subject token echoed in X-Subject-Token and the token body (methods, user,
 *   project with domain, roles, catalog unless `?nocatalog`, expires_at, issued_at).
 * The catalog's identity entry points at this double. `k2hr3Keystone()` gives the K2HR3 double
 * the same tokens (user name → project names), so both doubles agree on who a token is.
 */

export interface KeystoneTokenInfo {
  readonly user: { readonly id: string; readonly name: string };
  /** Absent = a domain-scoped token (Keystone then sends `domain` instead of `project`). */
  readonly project?: { readonly id: string; readonly name: string };
  readonly roles?: readonly string[];
  /** ms since epoch; default an hour after the token was added. */
  readonly expiresAtMs?: number;
}

export interface KeystoneDoubleOptions {
  readonly tokens?: Readonly<Record<string, KeystoneTokenInfo>>;
  /** false = a policy where a token may not validate itself (403). Default true, Keystone's default. */
  readonly selfValidation?: boolean;
  readonly region?: string;
}

const DOMAIN = { id: 'default', name: 'Default' };

export class KeystoneDouble {
  private readonly app: FastifyInstance;
  private readonly tokens = new Map<string, KeystoneTokenInfo & { issuedAtMs: number; expiresAtMs: number }>();
  private base = '';
  selfValidation: boolean;
  readonly region: string;
  /** Requests seen: method, path, query and whether each token header was present. */
  readonly seen: { method: string; path: string; query: string; authToken: boolean; subjectToken: boolean }[] = [];

  constructor(options: KeystoneDoubleOptions = {}) {
    this.selfValidation = options.selfValidation ?? true;
    this.region = options.region ?? 'RegionOne';
    for (const [token, info] of Object.entries(options.tokens ?? {})) this.addToken(token, info);
    this.app = Fastify({ logger: false });
    this.app.addHook('onRequest', async (req) => {
      const [path = '', query = ''] = req.url.split('?');
      this.seen.push({ method: req.method, path, query, authToken: req.headers['x-auth-token'] !== undefined, subjectToken: req.headers['x-subject-token'] !== undefined });
    });
    this.app.get('/v3/auth/tokens', async (req, reply) => this.validate(req, reply));
    this.app.setNotFoundHandler((_req, reply) => keystoneError(reply, 404, 'Not Found', 'The resource could not be found.'));
  }

  /** Starts listening on 127.0.0.1 (random port); resolves the base URL (unversioned, as catalogs often give it). */
  async start(): Promise<string> {
    await this.app.listen({ host: '127.0.0.1', port: 0 });
    const address = this.app.server.address();
    if (address === null || typeof address === 'string') throw new Error('Keystone double has no TCP address');
    this.base = `http://127.0.0.1:${address.port}`;
    return this.base;
  }

  async stop(): Promise<void> {
    await this.app.close();
  }

  get url(): string {
    return this.base;
  }

  addToken(token: string, info: KeystoneTokenInfo): void {
    const issuedAtMs = Date.now();
    this.tokens.set(token, { ...info, issuedAtMs, expiresAtMs: info.expiresAtMs ?? issuedAtMs + 3_600_000 });
  }

  /** A token is revoked: every later request with it fails as Keystone's would. */
  revoke(token: string): void {
    this.tokens.delete(token);
  }

  /** The same tokens as the K2HR3 double's `keystone` option: token → user name, project names. */
  k2hr3Keystone(): Record<string, { user: string; projects: string[] }> {
    return Object.fromEntries([...this.tokens].map(([token, info]) => [token, { user: info.user.name, projects: info.project ? [info.project.name] : [] }]));
  }

  /** The service catalog keystonemiddleware puts in X-Service-Catalog (v2 form), with this identity endpoint. */
  serviceCatalogV2(): Record<string, unknown>[] {
    const v3 = `${this.base}/v3`;
    return [{ type: 'identity', name: 'keystone', endpoints: [{ region: this.region, publicURL: v3, internalURL: v3, adminURL: v3 }] }];
  }

  private catalogV3(): Record<string, unknown>[] {
    const ep = (iface: string) => ({ id: randomBytes(16).toString('hex'), interface: iface, region_id: this.region, region: this.region, url: `${this.base}/v3` });
    return [{ type: 'identity', name: 'keystone', id: randomBytes(16).toString('hex'), endpoints: ['public', 'internal', 'admin'].map(ep) }];
  }

  private live(token: unknown): (KeystoneTokenInfo & { issuedAtMs: number; expiresAtMs: number }) | undefined {
    if (typeof token !== 'string') return undefined;
    const info = this.tokens.get(token);
    return info !== undefined && info.expiresAtMs > Date.now() ? info : undefined;
  }

  private validate(req: FastifyRequest, reply: FastifyReply): FastifyReply {
    const caller = this.live(req.headers['x-auth-token']);
    if (caller === undefined) return keystoneError(reply, 401, 'Unauthorized', 'The request you have made requires authentication.');
    const subjectToken = req.headers['x-subject-token'];
    if (typeof subjectToken !== 'string' || subjectToken === '') {
      return keystoneError(reply, 400, 'Bad Request', 'Expecting to find X-Subject-Token in header.');
    }
    // The policy target is built from the validated subject token, so an unknown one is 404 first.
    const subject = this.live(subjectToken);
    if (subject === undefined) return keystoneError(reply, 404, 'Not Found', `Could not find token: ${subjectToken}.`);
    const privileged = (caller.roles ?? []).some((r) => r === 'admin' || r === 'service');
    if (!privileged && (subject.user.id !== caller.user.id || !this.selfValidation)) {
      return keystoneError(reply, 403, 'Forbidden', 'You are not authorized to perform the requested action: identity:validate_token.');
    }
    const query = req.query as Record<string, unknown>;
    const iso = (ms: number) => new Date(ms).toISOString().replace('Z', '000Z');
    return reply
      .code(200)
      .header('X-Subject-Token', subjectToken)
      .header('Vary', 'X-Auth-Token')
      .type('application/json')
      .send({
        token: {
          methods: ['password'],
          user: { id: subject.user.id, name: subject.user.name, domain: DOMAIN, password_expires_at: null },
          audit_ids: [randomBytes(16).toString('base64url').slice(0, 22)],
          expires_at: iso(subject.expiresAtMs),
          issued_at: iso(subject.issuedAtMs),
          ...(subject.project ? { project: { id: subject.project.id, name: subject.project.name, domain: DOMAIN }, is_domain: false } : { domain: DOMAIN }),
          roles: (subject.roles ?? ['member', 'reader']).map((name) => ({ id: randomBytes(16).toString('hex'), name })),
          ...('nocatalog' in query ? {} : { catalog: this.catalogV3() }),
        },
      });
  }
}

function keystoneError(reply: FastifyReply, code: number, title: string, message: string): FastifyReply {
  return reply.code(code).type('application/json').send({ error: { code, title, message } });
}
