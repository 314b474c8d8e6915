import type { CallOutcome, RpcObserver } from '../rpc/types';

/** Upper bounds (seconds) of the RPC latency histogram: from rpc_ping to a long prepare. */
export const LATENCY_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 180, 600, 1800];

/**
 * Method names come off the wire, so a caller could invent any number of them; past this many
 * distinct names further ones are counted as `other` to keep /metrics bounded.
 */
const MAX_METHOD_LABELS = 64;
const OTHER = 'other';
const PREFIX = 'k2hdkc_agent_';

interface Histogram {
  readonly counts: number[];
  sum: number;
  count: number;
}

/**
 * In-process counters rendered in the Prometheus text format 0.0.4 (written by hand: one small
 * format, no new dependency). Fed by the RPC server as an RpcObserver and by the conductor's
 * heartbeat callback.
 */
export class Metrics implements RpcObserver {
  private readonly calls = new Map<string, number>();
  private readonly latency = new Map<string, Histogram>();
  private readonly methods = new Set<string>();
  private heartbeatsSent = 0;
  private heartbeatsFailed = 0;
  private reconnects = 0;
  private brokerConnected = false;

  get connected(): boolean {
    return this.brokerConnected;
  }

  onCall(method: string, outcome: CallOutcome, seconds: number): void {
    const name = this.methodLabel(method);
    const key = `${name}\u0000${outcome}`;
    this.calls.set(key, (this.calls.get(key) ?? 0) + 1);
    let histogram = this.latency.get(name);
    if (histogram === undefined) {
      histogram = { counts: LATENCY_BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.latency.set(name, histogram);
    }
    const value = Number.isFinite(seconds) && seconds > 0 ? seconds : 0;
    LATENCY_BUCKETS.forEach((bound, i) => {
      if (value <= bound) histogram.counts[i] = (histogram.counts[i] ?? 0) + 1;
    });
    histogram.sum += value;
    histogram.count += 1;
  }

  onConnectionChange(connected: boolean): void {
    this.brokerConnected = connected;
  }

  onReconnect(): void {
    this.reconnects += 1;
  }

  /** Pass as ConductorApi's onHeartbeat. */
  onHeartbeat(ok: boolean): void {
    if (ok) this.heartbeatsSent += 1;
    else this.heartbeatsFailed += 1;
  }

  /** The exposition text (ends with a newline). */
  render(): string {
    const out: string[] = [];
    out.push(`# HELP ${PREFIX}rpc_calls_total RPC requests handled, by method and outcome.`);
    out.push(`# TYPE ${PREFIX}rpc_calls_total counter`);
    for (const [key, value] of [...this.calls].sort(byKey)) {
      const [method, outcome] = key.split('\u0000') as [string, string];
      out.push(`${PREFIX}rpc_calls_total{method="${escapeLabel(method)}",outcome="${escapeLabel(outcome)}"} ${value}`);
    }
    out.push(`# HELP ${PREFIX}rpc_call_duration_seconds Time from receipt to reply (or drop) of an RPC request.`);
    out.push(`# TYPE ${PREFIX}rpc_call_duration_seconds histogram`);
    for (const [method, h] of [...this.latency].sort(byKey)) {
      const label = `method="${escapeLabel(method)}"`;
      LATENCY_BUCKETS.forEach((bound, i) => {
        out.push(`${PREFIX}rpc_call_duration_seconds_bucket{${label},le="${bound}"} ${h.counts[i] ?? 0}`);
      });
      out.push(`${PREFIX}rpc_call_duration_seconds_bucket{${label},le="+Inf"} ${h.count}`);
      out.push(`${PREFIX}rpc_call_duration_seconds_sum{${label}} ${h.sum}`);
      out.push(`${PREFIX}rpc_call_duration_seconds_count{${label}} ${h.count}`);
    }
    out.push(`# HELP ${PREFIX}heartbeats_total Heartbeat casts to the conductor, by outcome.`);
    out.push(`# TYPE ${PREFIX}heartbeats_total counter`);
    out.push(`${PREFIX}heartbeats_total{outcome="sent"} ${this.heartbeatsSent}`);
    out.push(`${PREFIX}heartbeats_total{outcome="failed"} ${this.heartbeatsFailed}`);
    out.push(`# HELP ${PREFIX}broker_reconnects_total Reconnections to the AMQP broker after a lost connection.`);
    out.push(`# TYPE ${PREFIX}broker_reconnects_total counter`);
    out.push(`${PREFIX}broker_reconnects_total ${this.reconnects}`);
    out.push(`# HELP ${PREFIX}broker_connected 1 while the agent holds a connection to the broker.`);
    out.push(`# TYPE ${PREFIX}broker_connected gauge`);
    out.push(`${PREFIX}broker_connected ${this.brokerConnected ? 1 : 0}`);
    return `${out.join('\n')}\n`;
  }

  private methodLabel(method: string): string {
    if (this.methods.has(method)) return method;
    if (this.methods.size >= MAX_METHOD_LABELS) return OTHER;
    this.methods.add(method);
    return method;
  }
}

function byKey(a: [string, unknown], b: [string, unknown]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

/** Label values escape backslash, double quote and newline (text format 0.0.4). */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
