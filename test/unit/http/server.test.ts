import { describe, expect, it } from 'vitest';
import { Metrics } from '../../../src/http/metrics';
import { HttpServer, type HealthSource } from '../../../src/http/server';
import { captureLogger } from '../conductor/recording-caster';

function build(state: { connected: boolean; prepared: boolean; last: number | null }, now = 1_800_000_100_000) {
  const metrics = new Metrics();
  const health: HealthSource = {
    brokerConnected: () => state.connected,
    prepared: () => state.prepared,
    lastHeartbeatAt: () => state.last,
  };
  const { log, lines } = captureLogger();
  const server = new HttpServer({ port: 0, metrics, health, log, now: () => now });
  return { server, metrics, lines };
}

describe('HttpServer', () => {
  it('GET /healthz is 200 ok with the heartbeat age while the broker is connected', async () => {
    const { server } = build({ connected: true, prepared: true, last: 1_800_000_090_000 });
    const res = await server.app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json()).toEqual({ status: 'ok', broker_connected: true, prepared: true, last_heartbeat_age_seconds: 10 });
    await server.close();
  });

  it('GET /healthz is 503 degraded while the broker is disconnected', async () => {
    const { server } = build({ connected: false, prepared: false, last: null });
    const res = await server.app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ status: 'degraded', broker_connected: false, prepared: false, last_heartbeat_age_seconds: null });
    await server.close();
  });

  it('a prepared guest whose last heartbeat is older than the controller expiry is degraded (still 200)', async () => {
    const { server } = build({ connected: true, prepared: true, last: 1_800_000_000_000 });
    const res = await server.app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'degraded', last_heartbeat_age_seconds: 100 });
    await server.close();
  });

  it('serves /metrics over a real socket in text format 0.0.4, and nothing else', async () => {
    const { server, metrics, lines } = build({ connected: true, prepared: false, last: null });
    metrics.onConnectionChange(true);
    metrics.onCall('rpc_ping', 'success', 0.01);
    const { host, port } = await server.start();
    expect(host).toBe('127.0.0.1');
    expect(port).toBeGreaterThan(0);
    const res = await fetch(`http://127.0.0.1:${port}/metrics?token=secret-should-not-be-logged`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const body = await res.text();
    expect(body).toContain('k2hdkc_agent_broker_connected 1\n');
    expect(body).toContain('k2hdkc_agent_rpc_calls_total{method="rpc_ping",outcome="success"} 1\n');
    expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    await server.close();
    expect(JSON.stringify(lines())).not.toContain('secret-should-not-be-logged');
    expect(lines().some((l) => l['msg'] === 'health and metrics endpoint listening' && l['port'] === port)).toBe(true);
  });
});
