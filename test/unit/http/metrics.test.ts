import { describe, expect, it } from 'vitest';
import { escapeLabel, LATENCY_BUCKETS, Metrics } from '../../../src/http/metrics';

/** Parses exposition lines into `name{labels}` -> value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

describe('Metrics', () => {
  it('renders zeroed counters and the gauge before anything happened', () => {
    const text = new Metrics().render();
    expect(text.endsWith('\n')).toBe(true);
    const s = samples(text);
    expect(s.get('k2hdkc_agent_heartbeats_total{outcome="sent"}')).toBe(0);
    expect(s.get('k2hdkc_agent_broker_connected')).toBe(0);
    expect(s.get('k2hdkc_agent_broker_reconnects_total')).toBe(0);
    expect(text).toContain('# TYPE k2hdkc_agent_rpc_call_duration_seconds histogram');
  });

  it('counts calls by method and outcome with a cumulative latency histogram', () => {
    const m = new Metrics();
    m.onCall('rpc_ping', 'success', 0.002);
    m.onCall('rpc_ping', 'success', 0.3);
    m.onCall('rpc_ping', 'failure', 20);
    m.onCall('prepare', 'success', 4000);
    const s = samples(m.render());
    expect(s.get('k2hdkc_agent_rpc_calls_total{method="rpc_ping",outcome="success"}')).toBe(2);
    expect(s.get('k2hdkc_agent_rpc_calls_total{method="rpc_ping",outcome="failure"}')).toBe(1);
    expect(s.get('k2hdkc_agent_rpc_call_duration_seconds_bucket{method="rpc_ping",le="0.005"}')).toBe(1);
    expect(s.get('k2hdkc_agent_rpc_call_duration_seconds_bucket{method="rpc_ping",le="0.5"}')).toBe(2);
    expect(s.get('k2hdkc_agent_rpc_call_duration_seconds_bucket{method="rpc_ping",le="30"}')).toBe(3);
    expect(s.get('k2hdkc_agent_rpc_call_duration_seconds_bucket{method="rpc_ping",le="+Inf"}')).toBe(3);
    expect(s.get('k2hdkc_agent_rpc_call_duration_seconds_count{method="rpc_ping"}')).toBe(3);
    expect(s.get('k2hdkc_agent_rpc_call_duration_seconds_sum{method="rpc_ping"}')).toBeCloseTo(20.302, 9);
    expect(s.get(`k2hdkc_agent_rpc_call_duration_seconds_bucket{method="prepare",le="${LATENCY_BUCKETS.at(-1)}"}`)).toBe(0);
    expect(s.get('k2hdkc_agent_rpc_call_duration_seconds_bucket{method="prepare",le="+Inf"}')).toBe(1);
  });

  it('tracks heartbeats, reconnects and the connection gauge', () => {
    const m = new Metrics();
    m.onHeartbeat(true);
    m.onHeartbeat(true);
    m.onHeartbeat(false);
    m.onReconnect();
    m.onConnectionChange(true);
    expect(m.connected).toBe(true);
    const s = samples(m.render());
    expect(s.get('k2hdkc_agent_heartbeats_total{outcome="sent"}')).toBe(2);
    expect(s.get('k2hdkc_agent_heartbeats_total{outcome="failed"}')).toBe(1);
    expect(s.get('k2hdkc_agent_broker_reconnects_total')).toBe(1);
    expect(s.get('k2hdkc_agent_broker_connected')).toBe(1);
  });

  it('escapes hostile method names and bounds how many it keeps', () => {
    const m = new Metrics();
    m.onCall('a"b\\c\nd', 'dropped', 0);
    for (let i = 0; i < 200; i += 1) m.onCall(`junk_${i}`, 'failure', 0);
    const text = m.render();
    expect(text).toContain(`method="${escapeLabel('a"b\\c\nd')}"`);
    expect(escapeLabel('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
    const methods = new Set([...text.matchAll(/rpc_calls_total\{method="((?:[^"\\]|\\.)*)"/g)].map((x) => x[1]));
    expect(methods.size).toBeLessThanOrEqual(65);
    expect(samples(text).get('k2hdkc_agent_rpc_calls_total{method="other",outcome="failure"}')).toBe(200 - 63);
  });
});
