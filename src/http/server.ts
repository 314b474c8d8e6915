import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from '../log';
import type { Metrics } from './metrics';

/** What /healthz reports; read at request time. */
export interface HealthSource {
  brokerConnected(): boolean;
  prepared(): boolean;
  /** ms since the epoch of the last published heartbeat, or null. */
  lastHeartbeatAt(): number | null;
}

export interface HttpServerOptions {
  /** Default 127.0.0.1: the endpoint is for the local monitoring agent, not the tenant network. */
  readonly host?: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  readonly metrics: Metrics;
  readonly health: HealthSource;
  readonly log: Logger;
  /** A prepared guest whose last heartbeat is older than this is `degraded` (controller expiry: 90 s). */
  readonly heartbeatStaleSeconds?: number;
  readonly now?: () => number;
}

export interface HealthReport {
  readonly status: 'ok' | 'degraded';
  readonly broker_connected: boolean;
  readonly prepared: boolean;
  readonly last_heartbeat_age_seconds: number | null;
}

/** The compiler factories above: any schema on a route is refused. */
function noSchemaCompiler(): () => never {
  return () => {
    throw new Error('the health/metrics routes take no schemas (src/http/server.ts builds fastify without compilers)');
  };
}

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * GET /healthz (JSON; 200 while the broker is connected, else 503) and GET /metrics (Prometheus
 * text). Fastify's own logger is off: nothing of a request is logged, so nothing can leak.
 */
export class HttpServer {
  readonly app: FastifyInstance;
  private readonly options: HttpServerOptions;

  constructor(options: HttpServerOptions) {
    this.options = options;
    this.app = Fastify({
      logger: false,
      // Neither route has a request or response schema. Left to itself fastify would still load
      // its ajv-based validator and fast-json-stringify compilers when it starts (~5 MiB of RSS in
      // an agent whose RSS issue 2 caps); these factories stand in for them, and a schema added
      // to a route later fails loudly at start-up instead of going unchecked.
      schemaController: { compilersFactory: { buildValidator: noSchemaCompiler, buildSerializer: noSchemaCompiler } },
    });
    this.app.get('/healthz', async (_request, reply) => {
      const report = this.health();
      return reply.code(report.broker_connected ? 200 : 503).send(report);
    });
    this.app.get('/metrics', async (_request, reply) =>
      reply.header('content-type', METRICS_CONTENT_TYPE).send(this.options.metrics.render()),
    );
  }

  /** The /healthz body. */
  health(): HealthReport {
    const { health } = this.options;
    const now = (this.options.now ?? Date.now)();
    const brokerConnected = health.brokerConnected();
    const prepared = health.prepared();
    const last = health.lastHeartbeatAt();
    const age = last === null ? null : Math.max(0, (now - last) / 1000);
    const stale = prepared && (age === null || age > (this.options.heartbeatStaleSeconds ?? 90));
    return {
      status: brokerConnected && !stale ? 'ok' : 'degraded',
      broker_connected: brokerConnected,
      prepared,
      last_heartbeat_age_seconds: age === null ? null : Math.round(age * 1000) / 1000,
    };
  }

  /** Listens; resolves with the bound address (port 0 becomes the real port). */
  async start(): Promise<{ host: string; port: number }> {
    const host = this.options.host ?? '127.0.0.1';
    await this.app.listen({ host, port: this.options.port });
    const address = this.app.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : this.options.port;
    this.options.log.info({ host, port }, 'health and metrics endpoint listening');
    return { host, port };
  }

  async close(): Promise<void> {
    await this.app.close();
  }
}
