import { gzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { clientIp, err, fullYrn, json, type Req, rest, strings, type Token, tokenOf } from './http-util';
import { hostsVariable, renderExtdataScript } from './render';
import { executeTemplate, loadTemplate, type Node, TemplateLoadError, TemplateRunError, type Value, variableNames } from './template';
import { DoubleState, YRN_RE } from './state';

/**
 * A K2HR3 REST API double (spec §1): user tokens from "Keystone" tokens it is told about,
 * resources, policies, roles with hosts identified by source IP, role tokens, the Trove extdata
 * endpoint, and resource reads expanded like the DBaaS template. Failures are injected through
 * `inject()` on this object, never over HTTP. Listens on 127.0.0.1 only.
 */

export interface K2hr3DoubleOptions {
  /** Keystone token → user name and the projects it may scope to. */
  keystone?: Record<string, { user: string; projects: string[] }>;
  /** `extdata.trove.useragent` (default `extdata_k2hr3_trove`). */
  extdataUserAgent?: string;
  /**
   * A real Keystone v3 URL (`http://h:p/v3`): tokens not in `keystone` are checked there as
   * K2HR3 does, by asking Keystone for a token scoped to the tenant with the user's token.
   */
  keystoneUrl?: string;
}

/** A failure the next matching request(s) get instead of the real answer. */
export type InjectedFailure =
  | { status: number; body?: string }
  | { garbage: true; status?: number }
  /** The request is carried out, then answered with this status (a lost create race). */
  | { afterWrite: number }
  /** The request is answered normally, `delayMs` late (a slow or overloaded K2HR3). */
  | { delayMs: number };
interface Rule {
  method: string | undefined;
  path: RegExp | undefined;
  failure: InjectedFailure;
  left: number;
}


export class K2hr3Double {
  readonly state = new DoubleState();
  private readonly app: FastifyInstance;
  private readonly keystone: NonNullable<K2hr3DoubleOptions['keystone']>;
  private readonly userAgent: string;
  private readonly keystoneUrl: string | undefined;
  private rules: Rule[] = [];
  private readonly afterWrite = new WeakSet<Req>();
  private readonly afterWriteStatus = new WeakMap<Req, number>();
  private base = '';
  /** Requests seen, `METHOD path` (no query), for tests that check what was (not) sent. */
  readonly seen: { method: string; path: string; ip: string; token: Token['kind'] }[] = [];

  constructor(options: K2hr3DoubleOptions = {}) {
    this.keystone = { ...(options.keystone ?? {}) };
    this.userAgent = options.extdataUserAgent ?? 'extdata_k2hr3_trove';
    this.keystoneUrl = options.keystoneUrl;
    this.app = Fastify({ logger: false });
    this.app.addHook('onRequest', async (req, reply) => {
      const path = req.url.split('?')[0] ?? '';
      this.seen.push({ method: req.method, path, ip: clientIp(req), token: tokenOf(req).kind });
      const rule = this.rules.find((r) => (!r.method || r.method === req.method) && (!r.path || r.path.test(path)));
      if (!rule) return;
      if (--rule.left <= 0) this.rules = this.rules.filter((r) => r !== rule);
      const f = rule.failure;
      if ('delayMs' in f) {
        await new Promise((resolve) => setTimeout(resolve, f.delayMs));
        return;
      }
      if ('afterWrite' in f) {
        this.afterWrite.add(req);
        this.afterWriteStatus.set(req, f.afterWrite);
        return;
      }
      if ('garbage' in f) return reply.code(f.status ?? 200).type('text/html').send('<html><body>502 proxy says hi');
      return reply.code(f.status).type('application/json; charset=utf-8').send(f.body ?? JSON.stringify({ result: false, message: `injected ${f.status}` }));
    });
    this.app.addHook('onSend', async (req, reply) => {
      const status = this.afterWriteStatus.get(req);
      if (status === undefined || !this.afterWrite.delete(req)) return undefined;
      reply.code(status).type('application/json; charset=utf-8');
      return JSON.stringify({ result: false, message: 'already exists' });
    });
    // Express-like body handling: an empty body is no body, whatever the content type says.
    this.app.removeAllContentTypeParsers();
    this.app.addContentTypeParser('*', { parseAs: 'string' }, (req, body, done) => {
      const text = String(body);
      if (text === '' || !String(req.headers['content-type'] ?? '').includes('json')) return done(null, undefined);
      try {
        done(null, JSON.parse(text));
      } catch {
        done(Object.assign(new Error('bad JSON body'), { statusCode: 400 }), undefined);
      }
    });
    this.app.setNotFoundHandler((_req, reply) => err(reply, 404, 'Internal server error'));
    this.app.post('/v1/user/tokens', (req, reply) => this.postUserToken(req, reply));
    this.app.get('/v1/extdata/:suburi/*', (req, reply) => this.getExtdata(req, reply));
    this.app.get('/v1/role/token/*', (req, reply) => this.getRoleToken(req, reply, rest(req)));
    for (const kind of ['resource', 'policy', 'role'] as const) {
      this.app.post(`/v1/${kind}`, (req, reply) => this.upsert(kind, req, reply));
      this.app.get(`/v1/${kind}/*`, (req, reply) => this.get(kind, req, reply, rest(req)));
    }
    for (const kind of ['resource', 'policy'] as const) this.app.delete(`/v1/${kind}/*`, (req, reply) => this.deleteObject(kind, req, reply, rest(req)));
    this.app.get('/v1/list/:kind', (req, reply) => this.list(req, reply, null));
    this.app.get('/v1/list/:kind/*', (req, reply) => this.list(req, reply, rest(req)));
    this.app.put('/v1/role/*', (req, reply) => this.putHost(req, reply, rest(req)));
    this.app.delete('/v1/role/*', (req, reply) => this.deleteRole(req, reply, rest(req)));
  }

  /** Starts listening on 127.0.0.1 (random port); resolves the base URL. */
  async start(): Promise<string> {
    await this.app.listen({ host: '127.0.0.1', port: 0 });
    const addr = this.app.server.address();
    if (addr === null || typeof addr === 'string') throw new Error('K2HR3 double has no TCP address');
    this.base = `http://127.0.0.1:${addr.port}`;
    return this.base;
  }

  async stop(): Promise<void> {
    await this.app.close();
  }

  get url(): string {
    return this.base;
  }

  /** Test-only: the next `times` requests matching method/path get `failure`. */
  inject(match: { method?: string; path?: RegExp }, failure: InjectedFailure, times = 1): void {
    this.rules.push({ method: match.method, path: match.path, failure, left: times });
  }

  /** Test-only: a Keystone token K2HR3 accepts from now on (K2HR3 would ask Keystone). */
  trustKeystoneToken(token: string, user: string, projects: string[]): void {
    this.keystone[token] = { user, projects: [...projects] };
  }

  /** Test-only: drops injected failures not yet used. */
  clearInjections(): void {
    this.rules = [];
  }

  /**
   * Test-only: what the Trove dashboard does before a VM boots: a user-made role token
   * (expire=0) and the extdata URL carrying its register path.
   */
  extdataUrlFor(roleYrn: string): { url: string; token: string } {
    const { token, registerpath } = this.state.issueRoleToken(roleYrn, null, 0);
    return { url: `${this.base}/v1/extdata/trove/${registerpath}`, token };
  }

  // ---- routes -------------------------------------------------------------------------------

  private async postUserToken(req: Req, reply: FastifyReply): Promise<FastifyReply> {
    const raw = req.headers['x-auth-token'];
    if (typeof raw !== 'string' || raw === '') return err(reply, 400, 'Some parameter(user name or unscoped token) is wrong.');
    const keystoneToken = raw.startsWith('U=') ? raw.slice(2) : raw;
    const body = req.body as { auth?: { tenantName?: unknown } } | undefined;
    const tenant = body?.auth?.tenantName;
    const ks = this.keystone[keystoneToken] ?? (typeof tenant === 'string' ? await this.askKeystone(keystoneToken, tenant) : undefined);
    if (!ks || typeof tenant !== 'string' || !ks.projects.includes(tenant)) {
      return err(reply, 404, 'could not get scoped user token for other token');
    }
    const token = this.state.newToken() + this.state.newToken();
    // K2HR3 keeps tenant names lower-cased (spec §10).
    this.state.userTokens.set(token, { user: ks.user, tenant: tenant.toLowerCase() });
    return json(reply, 201, { result: true, message: 'succeed', scoped: true, token });
  }

  private getExtdata(req: Req, reply: FastifyReply): FastifyReply {
    const ua = req.headers['user-agent'];
    const { suburi } = req.params as { suburi: string };
    if (typeof ua !== 'string' || suburi !== 'trove' || ua.toLowerCase() !== this.userAgent.toLowerCase()) {
      return err(reply, 400, 'GET request is not allowed from your client');
    }
    const path = rest(req);
    const reg = this.state.registerPaths.get(path) ?? this.state.registerPaths.get(encodeURIComponent(decodeURIComponent(path)));
    if (!reg) return err(reply, 400, `GET /extdata/${suburi}/${path} is invalid`);
    const m = YRN_RE.exec(reg.role);
    const script = renderExtdataScript({
      token: reg.token,
      role: reg.role,
      tenant: `yrn:yahoo:::${m?.[1] ?? ''}`,
      apiUri: this.base,
      error: '',
    });
    const enc = String(req.headers['accept-encoding'] ?? '').toLowerCase().split(',').map((s) => s.trim());
    if (enc.includes('gzip') || enc.includes('deflate')) {
      return reply
        .code(200)
        .header('Content-Type', 'application/zip')
        .header('Content-Encoding', 'gzip')
        .header('Content-Disposition', 'attachment; filename=k2hr3-extdata.gz')
        .send(gzipSync(script));
    }
    return reply.code(200).header('Content-Type', 'text/x-shellscript; charset="us-ascii"').send(script);
  }

  private getRoleToken(req: Req, reply: FastifyReply, path: string): FastifyReply {
    const tok = tokenOf(req);
    const q = req.query as Record<string, string | undefined>;
    if (tok.kind === 'user') {
      const u = this.state.userTokens.get(tok.value);
      if (!u) return err(reply, 401, 'token is not existed, because it is expired or not set yet.');
      const role = fullYrn(path, u.tenant, 'role');
      if (!role || !this.state.roles.has(role)) return err(reply, 404, 'Could not get role token.');
      const expire = q.expire === undefined ? 86400 : Number(q.expire);
      if (!Number.isInteger(expire) || expire < 0) return err(reply, 400, 'expire parameter is wrong');
      return json(reply, 200, { result: true, message: null, ...this.state.issueRoleToken(role, null, expire) });
    }
    if (tok.kind === 'role') {
      const old = this.state.roleTokens.get(tok.value);
      if (!old) return err(reply, 401, 'token is not existed, because it is expired or not set yet.');
      if (old.ip !== clientIp(req)) return err(reply, 400, 'GET request ip address and role token are not same.');
      this.state.roleTokens.delete(tok.value);
      return json(reply, 200, { result: true, message: null, ...this.state.issueRoleToken(old.role, old.ip, 86400) });
    }
    if (!YRN_RE.test(path)) return err(reply, 400, 'role must be full yrn path when no token');
    const role = path.toLowerCase();
    const cuk = q.cuk;
    const member = this.state.hostsOf(role).some((h) => h.host === clientIp(req) && (cuk === undefined || h.cuk === cuk));
    if (!member) return err(reply, 404, 'Could not get role token.');
    return json(reply, 200, { result: true, message: null, ...this.state.issueRoleToken(role, clientIp(req), 86400) });
  }

  private upsert(kind: 'resource' | 'policy' | 'role', req: Req, reply: FastifyReply): FastifyReply {
    const u = this.userFrom(req, reply);
    if (!u) return reply;
    const obj = ((req.body ?? {}) as Record<string, unknown>)[kind] as Record<string, unknown> | undefined;
    const name = typeof obj?.name === 'string' ? fullYrn(obj.name, u.tenant, kind) : undefined;
    if (!obj || !name) return err(reply, 400, `POST body does not have ${kind} data`);
    const created = !this.has(kind, name);
    if (kind === 'resource') {
      const prev = this.state.resources.get(name);
      const keys = obj.keys && typeof obj.keys === 'object' ? (obj.keys as Record<string, string>) : undefined;
      this.state.resources.set(name, {
        type: obj.type === 'object' ? 'object' : 'string',
        string: typeof obj.data === 'string' ? obj.data : (prev?.string ?? ''),
        keys: keys ? { ...keys } : (prev?.keys ?? {}),
      });
    } else if (kind === 'policy') {
      this.state.policies.set(name, {
        effect: obj.effect === 'allow' ? 'allow' : 'deny',
        action: strings(obj.action),
        resource: strings(obj.resource),
        alias: strings(obj.alias),
      });
    } else {
      const prev = this.state.roles.get(name);
      // null/undefined keeps the current value; hosts are never touched here (spec §1.5, role API).
      this.state.roles.set(name, {
        policies: obj.policies == null ? (prev?.policies ?? []) : strings(obj.policies),
        alias: obj.alias == null ? (prev?.alias ?? []) : strings(obj.alias),
        hosts: prev?.hosts ?? new Map(),
      });
    }
    this.state.writes.push({ kind, name, created });
    return json(reply, 201, { result: true, message: null });
  }

  private get(kind: 'resource' | 'policy' | 'role', req: Req, reply: FastifyReply, path: string): FastifyReply {
    const tok = tokenOf(req);
    if (kind === 'resource' && tok.kind === 'role') return this.readResourceByRole(req, reply, tok.value, path);
    const u = this.userFrom(req, reply);
    if (!u) return reply;
    const name = fullYrn(path, u.tenant, kind);
    if (!name) return err(reply, 400, `${kind}(${path}) is not a name of tenant ${u.tenant}`);
    // What K2HR3 2.0.3 answers for a missing object (spec §10): a policy 400, a role 200 with
    // empty data (no existence check), a resource 404.
    if (kind === 'policy' && !this.has(kind, name)) return err(reply, 400, `${name} is not found in yrn:yahoo:::${u.tenant}:policy subkey list.`);
    if (kind === 'role' && !this.has(kind, name)) {
      return json(reply, 200, { result: true, message: null, role: { policies: [], aliases: [], hosts: { hostnames: [], ips: [] } } });
    }
    if (!this.has(kind, name)) return err(reply, 404, `${kind}(${path}) is not found`);
    if (kind === 'resource') {
      const r = this.state.resources.get(name)!;
      return json(reply, 200, { result: true, message: null, resource: { string: r.string, object: null, keys: r.keys, aliases: [], expire: null } });
    }
    if (kind === 'policy') return json(reply, 200, { result: true, message: null, policy: { name, ...this.state.policies.get(name)! } });
    const r = this.state.roles.get(name)!;
    const ips = this.state.hostsOf(name).map((h) => `${h.host} ${h.port === 0 ? '*' : h.port} ${h.cuk ?? ''} ${h.extra ?? ''} ${h.tag ?? ''}`);
    return json(reply, 200, { result: true, message: null, role: { policies: r.policies, aliases: r.alias, hosts: { hostnames: [], ips } } });
  }

  private readResourceByRole(req: Req, reply: FastifyReply, token: string, path: string): FastifyReply {
    const t = this.validRoleToken(req, token);
    if (!t) return err(reply, 401, 'token is not existed, because it is expired or not set yet.');
    const q = req.query as Record<string, string | undefined>;
    if (q.port !== undefined || q.cuk !== undefined || q.role !== undefined) return err(reply, 400, 'GET request has port/cuk/role with token');
    const tenant = YRN_RE.exec(t.role)?.[1] ?? '';
    const name = fullYrn(path, tenant, 'resource');
    if (!name || !this.state.canRead(t.role, name)) return err(reply, 404, `could not get resource(${path})`);
    // Parents first: strings concatenated, keys merged (spec §1.5 "Expansion").
    const lineage = this.state.lineage(name.replace(':resource:', ':role:')).map((r) => r.replace(':role:', ':resource:'));
    if (!this.state.resources.has(name)) return err(reply, 404, `could not get resource(${path})`);
    let text = '';
    const keys: Record<string, string> = {};
    for (const r of lineage) {
      const data = this.state.resources.get(r);
      if (!data) continue;
      text += data.string;
      Object.assign(keys, data.keys);
    }
    if ((q.type ?? 'string') === 'keys') {
      if (q.keyname === undefined || !(q.keyname in keys)) return err(reply, 404, 'key is not found');
      return json(reply, 200, { result: true, message: null, resource: keys[q.keyname] });
    }
    if (text !== '') {
      const expanded = this.expand(text, keys, tenant);
      if (expanded.error !== undefined) return err(reply, 404, expanded.error);
      text = expanded.text;
    }
    return json(reply, 200, { result: true, message: null, resource: text });
  }

  private putHost(req: Req, reply: FastifyReply, path: string): FastifyReply {
    const tok = tokenOf(req);
    const q = req.query as Record<string, string | undefined>;
    let role: string | undefined;
    let ip = clientIp(req);
    if (tok.kind === 'role') {
      const t = this.validRoleToken(req, tok.value);
      if (!t) return err(reply, 401, 'token is not existed, because it is expired or not set yet.');
      role = fullYrn(path, YRN_RE.exec(t.role)?.[1] ?? '', 'role');
      if (role !== t.role) return err(reply, 400, 'role token is not for this role');
    } else if (tok.kind === 'user') {
      const u = this.userFrom(req, reply);
      if (!u) return reply;
      role = fullYrn(path, u.tenant, 'role');
      if (q.host === undefined) return err(reply, 400, 'PUT request query does not have host');
      ip = q.host;
    } else {
      return err(reply, 400, 'PUT request does not have token');
    }
    if (!role || !this.state.roles.has(role)) return err(reply, 400, 'role is not existed');
    const port = q.port === undefined ? 0 : Number(q.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) return err(reply, 400, 'port parameter is wrong');
    for (const k of ['inboundip', 'outboundip'] as const) {
      if (q[k] !== undefined && !/^[0-9.]+$|^[0-9a-fA-F:]+$/.test(q[k]!)) return err(reply, 400, `${k} parameter is wrong`);
    }
    // A field the host did not send is stored as null (spec §10).
    this.state.addHost(role, {
      host: ip,
      port,
      cuk: q.cuk ?? null,
      extra: q.extra ?? null,
      tag: q.tag ?? null,
      inboundip: q.inboundip ?? null,
      outboundip: q.outboundip ?? null,
    });
    return json(reply, 201, { result: true, message: null });
  }

  private deleteRole(req: Req, reply: FastifyReply, path: string): FastifyReply {
    const tok = tokenOf(req);
    const q = req.query as Record<string, string | undefined>;
    if (tok.kind === 'role') {
      // The pitfall of spec §1.3.3: with a role token this URL deletes the token, not the host.
      const t = this.state.roleTokens.get(tok.value);
      if (!t || t.role !== path.toLowerCase()) return reply.code(403).send();
      this.state.roleTokens.delete(tok.value);
      return reply.code(204).send();
    }
    if (tok.kind === 'user') {
      const u = this.userFrom(req, reply);
      if (!u) return reply;
      const role = fullYrn(path, u.tenant, 'role');
      if (!role || !this.state.roles.has(role)) return reply.code(403).send();
      if (q.host === undefined) this.state.roles.delete(role);
      else this.state.removeHost(role, q.host, Number(q.port ?? 0), q.cuk);
      return reply.code(204).send();
    }
    if (!YRN_RE.test(path)) return reply.code(400).send();
    const port = q.port === undefined ? 0 : Number(q.port);
    if (!this.state.removeHost(path.toLowerCase(), clientIp(req), port, q.cuk)) return reply.code(403).send();
    return reply.code(204).send();
  }

  /** `DELETE /v1/resource|policy/<path>` with a user token: 204, or 403 with no body (spec §1.2). */
  private deleteObject(kind: 'resource' | 'policy', req: Req, reply: FastifyReply, path: string): FastifyReply {
    const u = this.userFrom(req, reply);
    if (!u) return reply;
    const name = fullYrn(path, u.tenant, kind);
    const map = kind === 'resource' ? this.state.resources : this.state.policies;
    if (!name || !map.delete(name)) return reply.code(403).send();
    return reply.code(204).send();
  }

  /** `GET /v1/list/<kind>[/<path>]` with a scoped user token: existing children (spec §10). */
  private list(req: Req, reply: FastifyReply, path: string | null): FastifyReply {
    const u = this.userFrom(req, reply);
    if (!u) return reply;
    const { kind } = req.params as { kind: string };
    if (kind !== 'role' && kind !== 'resource' && kind !== 'policy') return err(reply, 400, 'GET/HEAD request url has wrong list type, it must be "role" or "resource" or "policy" or "service"');
    const parent = path === null || path === '' ? null : path.toLowerCase();
    const children = this.state.childrenOf(u.tenant, kind, parent).map((name) => ({ name, children: [] }));
    return json(reply, 200, { result: true, message: null, children });
  }

  /**
   * Runs a resource string through the template interpreter the way K2HR3 does (spec §2): the
   * merged keys are the variables; a variable naming a role's `/hosts/ip` (or `/hosts/all`) of
   * the reading tenant gets that role's hosts, looked up exactly as written (names are stored
   * lower-cased, so other letter case finds no role and no hosts, spec §10). A template that
   * does not load or fails to run makes the read fail, as it does in K2HR3.
   */
  private expand(text: string, keys: Record<string, string>, tenant: string): { text: string; error?: undefined } | { error: string } {
    let nodes: Node[];
    try {
      nodes = loadTemplate(text);
    } catch (e) {
      if (e instanceof TemplateLoadError) return { error: `Could not load resource for template engine: ${e.message}` };
      throw e;
    }
    const vars: Record<string, Value> = { ...keys };
    for (const name of variableNames(nodes)) {
      if (name in vars) continue;
      const m = /^yrn:yahoo:::([^:]+):role:(.+)\/hosts\/(ip|all|name)$/.exec(name);
      if (!m || m[1] !== tenant) continue;
      const role = `yrn:yahoo:::${m[1]}:role:${m[2] as string}`;
      // The double registers hosts by address only: /hosts/name is always empty.
      vars[name] = hostsVariable(m[3] === 'name' ? [] : this.state.hostsOf(role));
    }
    try {
      return { text: executeTemplate(nodes, vars) };
    } catch (e) {
      if (e instanceof TemplateRunError) return { error: `failed to expand resource and to execute template engine: ${e.message}` };
      throw e;
    }
  }

  // ---- helpers ------------------------------------------------------------------------------

  /** A token Keystone scopes to `tenant` (POST /v3/auth/tokens, method token): its user, or undefined. */
  private async askKeystone(token: string, tenant: string): Promise<{ user: string; projects: string[] } | undefined> {
    if (this.keystoneUrl === undefined) return undefined;
    const res = await fetch(`${this.keystoneUrl}/auth/tokens?nocatalog`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ auth: { identity: { methods: ['token'], token: { id: token } }, scope: { project: { name: tenant, domain: { id: 'default' } } } } }),
    }).catch(() => undefined);
    if (res?.status !== 201) return undefined;
    const body = (await res.json()) as { token?: { user?: { name?: string } } };
    return { user: body.token?.user?.name ?? '', projects: [tenant] };
  }

  private has(kind: 'resource' | 'policy' | 'role', name: string): boolean {
    return (kind === 'resource' ? this.state.resources : kind === 'policy' ? this.state.policies : this.state.roles).has(name);
  }

  private userFrom(req: Req, reply: FastifyReply): { user: string; tenant: string } | undefined {
    const tok = tokenOf(req);
    const u = tok.kind === 'user' ? this.state.userTokens.get(tok.value) : undefined;
    if (!u) err(reply, 401, 'token is not existed, because it is expired or not set yet.');
    return u;
  }

  private validRoleToken(req: Req, token: string): { role: string } | undefined {
    const t = this.state.roleTokens.get(token);
    if (!t || t.expiresAt < Date.now()) return undefined;
    // A token a host made is bound to its IP; a user-made one works from anywhere (spec §1.1).
    if (t.ip !== null && t.ip !== clientIp(req)) return undefined;
    return t;
  }
}
