import Fastify, { type FastifyInstance } from 'fastify';
import type { SchedulerMetrics } from './metrics';

/**
 * Optional metrics endpoint (`GET /metrics`, `GET /healthz`). Meant for 127.0.0.1: it needs no
 * auth because it says nothing secret, but nothing outside the controller needs to reach it.
 */
export class MetricsServer {
  private readonly app: FastifyInstance;

  constructor(metrics: SchedulerMetrics) {
    this.app = Fastify({ logger: false });
    this.app.get('/metrics', async (_req, reply) =>
      reply.type('text/plain; version=0.0.4; charset=utf-8').send(metrics.render()),
    );
    this.app.get('/healthz', async () => ({ status: 'ok' }));
  }

  /** Listens; resolves with the bound address (port 0 picks a free one). */
  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    await this.app.listen({ host, port });
    const address = this.app.server.address();
    return { host, port: typeof address === 'object' && address ? address.port : port };
  }

  async close(): Promise<void> {
    await this.app.close();
  }
}
