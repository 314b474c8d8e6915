import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Authenticator } from './auth';
import { registerCinder } from './cinder';
import { registerGlance } from './glance';
import { ApiError, novaStyleError, requireToken } from './http';
import { neutronError, registerNeutron } from './neutron';
import { registerNova } from './nova';
import { CloudState, type Flavor, type Image, type NetworkSpec } from './state';

export interface ComputeDoubleOptions {
  /** Where servers and volumes are written for the hypervisor (see state.ts). */
  readonly cloudDir: string;
  readonly flavors: readonly Flavor[];
  readonly images: readonly Image[];
  readonly network: NetworkSpec;
  /** Token validation: `keystoneAuthenticator(...)` against the test Keystone. */
  readonly authenticate: Authenticator;
  /** Named in 401 answers (WWW-Authenticate), as keystonemiddleware does. */
  readonly keystoneUrl: string;
}

/** A catalog entry for Keystone (same shape as test/keystone/fixture.ts CatalogService). */
export interface CatalogEntry {
  readonly type: string;
  readonly name: string;
  readonly url: string;
}

type Style = 'nova' | 'neutron' | 'glance';

function toApiError(error: FastifyError | ApiError | Error): ApiError {
  if (error instanceof ApiError) return error;
  const status = (error as FastifyError).statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) return new ApiError(status, error.message);
  return new ApiError(500, `The double failed: ${error.message}`);
}

function sendError(style: Style, reply: FastifyReply, error: ApiError): FastifyReply {
  if (style === 'neutron') return neutronError(reply, error);
  if (style === 'glance') return reply.code(error.status).type('text/plain').send(`${error.status}: ${error.message}`);
  return reply.code(error.status).send(novaStyleError(error));
}

/**
 * One HTTP double for nova, cinder, neutron and glance, each under its own path as a devstack
 * cloud serves them (`/compute/v2.1`, `/volume/v3/<project>`, `/network/v2.0`, `/image/v2`),
 * every call authenticated against Keystone. Request and response shapes follow the services'
 * API references; what a VM does once nova booted it is the hypervisor's job (it reads the
 * server records this double writes under `cloudDir`).
 */
export class ComputeDouble {
  readonly state: CloudState;
  private app: FastifyInstance | null = null;
  private base = '';

  constructor(private readonly options: ComputeDoubleOptions) {
    this.state = new CloudState(options.cloudDir, options.flavors, options.images, options.network);
  }

  get url(): string {
    return this.base;
  }

  /** Catalog entries a Keystone should list for this double. */
  catalog(): CatalogEntry[] {
    return [
      { type: 'compute', name: 'nova', url: `${this.base}/compute/v2.1` },
      { type: 'volumev3', name: 'cinderv3', url: `${this.base}/volume/v3/$(project_id)s` },
      { type: 'block-storage', name: 'cinder', url: `${this.base}/volume/v3/$(project_id)s` },
      { type: 'network', name: 'neutron', url: `${this.base}/network` },
      { type: 'image', name: 'glance', url: `${this.base}/image` },
    ];
  }

  async start(): Promise<string> {
    const app = Fastify({ logger: false, bodyLimit: 4 * 1024 * 1024 });
    // Clients send Content-Type: application/json on some body-less calls (DELETE, actions).
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
      const text = String(body);
      if (text.trim() === '') { done(null, undefined); return; }
      try {
        done(null, JSON.parse(text));
      } catch {
        done(new ApiError(400, 'Malformed request body: not JSON'), undefined);
      }
    });
    const { authenticate, keystoneUrl } = this.options;
    const mount = (prefix: string, style: Style, isPublic: (url: string) => boolean, routes: (scope: FastifyInstance) => void): void => {
      void app.register(async (scope) => {
        scope.setErrorHandler((error: FastifyError | ApiError, _req, reply) => sendError(style, reply, toApiError(error)));
        scope.setNotFoundHandler((req, reply) => sendError(style, reply, new ApiError(404, `The resource could not be found: ${req.method} ${req.url}`)));
        requireToken(scope, authenticate, keystoneUrl, isPublic);
        routes(scope);
      }, { prefix });
    };
    const baseUrl = (): string => this.base;
    mount('/compute', 'nova', (u) => /^\/compute(\/v2\.1)?\/?$/.test(u), (s) => registerNova(s, this.state, baseUrl));
    mount('/volume', 'nova', (u) => /^\/volume(\/v3)?\/?$/.test(u), (s) => registerCinder(s, this.state, baseUrl));
    mount('/network', 'neutron', (u) => /^\/network\/?$/.test(u), (s) => registerNeutron(s, this.state, baseUrl));
    mount('/image', 'glance', (u) => /^\/image(\/versions)?\/?$/.test(u), (s) => registerGlance(s, this.state, baseUrl));
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address();
    if (addr === null || typeof addr === 'string') throw new Error('the compute double has no address');
    this.app = app;
    this.base = `http://127.0.0.1:${addr.port}`;
    return this.base;
  }

  async stop(): Promise<void> {
    const app = this.app;
    this.app = null;
    await app?.close();
  }
}
