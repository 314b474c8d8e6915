// Formats one bench/rpc run as a plain-text table. Figures only: nothing here passes or fails.

// issue 11, item 4: ours (the production configuration, health endpoint on) / reference.
export const TARGETS = { p50: 0.75, p99: 1.0, rss: 0.65 };

const MiB = 1024;
const fmt = (value, digits = 2) => (value === null || value === undefined || Number.isNaN(value) ? '-' : value.toFixed(digits));

function ratio(ours, ref) {
  if (typeof ours !== 'number' || typeof ref !== 'number' || !(ref > 0) || Number.isNaN(ours)) return null;
  return ours / ref;
}

function targetCell(r, limit) {
  if (r === null) return `<= ${limit.toFixed(2)}x`;
  return `<= ${limit.toFixed(2)}x  ${r <= limit ? 'met' : 'NOT met'}`;
}

/** The columns: ours (endpoint on), the reference, the floor, and ours-off when it ran. */
function columns(run) {
  return ['ours', 'reference', 'floor', ...('ours-off' in run.guests ? ['ours-off'] : [])];
}

/** The rows of the table: [label, ...one cell per column, ratio, target]. */
function rows(run) {
  const g = (name) => run.guests[name] ?? {};
  const lat = (name, key) => g(name).latency?.[key];
  const load = (name, key) => g(name).load?.[key];
  const mem = (name, key) => (g(name).memory ? g(name).memory[key] / MiB : null);
  const cpuPerCall = (name) => {
    const l = g(name).load;
    return l && l.cpuSeconds !== null && l.calls > 0 ? (l.cpuSeconds / l.calls) * 1000 : null;
  };
  const row = (label, pick, digits, target, noRatio = false) => {
    const values = columns(run).map(pick);
    const [o, r] = values;
    const q = noRatio ? null : ratio(o, r);
    return [label, ...values.map((v) => fmt(v, digits)), q === null ? '-' : `${q.toFixed(2)}x`, target ? targetCell(q, target) : ''];
  };
  const { procs, threads } = run.options;
  return [
    row('rpc_ping p50 (ms)', (n) => lat(n, 'p50_ms'), 3, TARGETS.p50),
    row('rpc_ping p99 (ms)', (n) => lat(n, 'p99_ms'), 3, TARGETS.p99),
    row('rpc_ping mean (ms)', (n) => lat(n, 'mean_ms'), 3),
    row('  timed calls (one caller)', (n) => lat(n, 'n'), 0, undefined, true),
    row('  errors (incl. warm-up)', (n) => (g(n).latency ? lat(n, 'errors') + lat(n, 'warmup_errors') : null), 0, undefined, true),
    row(`calls/s, ${procs * threads} callers (${procs} proc x ${threads} thr)`, (n) => load(n, 'callsPerSecond'), 0),
    row('  errors under load', (n) => load(n, 'errors'), 0, undefined, true),
    row('  guest CPU per call (ms)', cpuPerCall, 3),
    row('VmRSS before the load (MiB)', (n) => (g(n).memoryBeforeLoad ? g(n).memoryBeforeLoad.rssKiB / MiB : null), 1),
    row('VmRSS after run (MiB)', (n) => mem(n, 'rssKiB'), 1, TARGETS.rss),
    row('VmHWM peak RSS (MiB)', (n) => mem(n, 'hwmKiB'), 1),
  ];
}

function healthNote(run) {
  const health = run.guests.ours?.health;
  if (!health) return '';
  return health.httpStatus === undefined ? `; /healthz failed: ${health.error}` : `; /healthz answered ${health.httpStatus} ${health.status}`;
}

/** The whole report: header, table, then notes (guests that failed, skipped parts). */
export function formatReport(run) {
  const header = ['', ...columns(run), 'ours/ref', 'target (issue 11)'];
  const table = [header, ...rows(run)];
  const widths = header.map((_, i) => Math.max(...table.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  const out = [
    `bench/rpc  ${run.startedAt}  ${run.host}`,
    'rpc_ping through trove.guestagent.api.API (Debian python3-trove), secure RPC on (instance key),',
    `targets (issue 11): ours/reference p50 <= ${TARGETS.p50}x, p99 <= ${TARGETS.p99}x, VmRSS <= ${TARGETS.rss}x.`,
    `one broker ${run.options.broker}; ${run.options.calls} timed calls after ${run.options.warmup} warm-up, one caller;` +
      ` load ${run.options.duration}s.`,
    run.options.agentNodeArgs
      ? `  ours      = node ${run.options.agentNodeArgs} ${run.options.agentRoot}/bin/k2hdkc-trove-agent (its dist/, npm run build)`
      : `  ours      = ${run.options.agentRoot}/bin/k2hdkc-trove-agent, executed (node flags from its #! line; its dist/)`,
    `  ours is a production guest: health endpoint on (http_port on 127.0.0.1${healthNote(run)}), datastore k2hdkc, not prepared`,
    ...('ours-off' in run.guests ? ['  ours-off  = the same agent with http_port = 0 (health endpoint off: fastify never loaded)'] : []),
    '  reference = bench/rpc/reference_guest.py (oslo.messaging RPC server, Trove SecureSerializer, eventlet)',
    '  floor     = bench/rpc/floor-guest.mjs (bare amqplib echo; caller + broker floor)',
    '',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...table.slice(1).map(line),
  ];
  if (run.notes.length > 0) out.push('', 'notes:', ...run.notes.map((n) => `  - ${n}`));
  return out.join('\n');
}
