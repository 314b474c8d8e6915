// bench/prepare: the time from Trove's prepare cast to the `healthy` heartbeat the real
// trove-conductor records, for a K2HDKC node run by our agent with the chmpx/k2hdkc stand-ins
// and the K2HR3 API double, over several runs; beside it the stand-ins' own start-up time (so
// agent overhead = total - stand-ins) and the old integration's fixed waits (>= 65 s).
// Every node (agent and stand-ins) runs in its own network namespace (lib/nodes.mjs), as in the tests.
// `npm run bench:prepare [-- --help]`. A benchmark: it prints figures and never asserts timings.
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { hostname, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanUp, openBroker, waitForConsumer } from '../rpc/lib/broker.mjs';
import { logTail, startDaemon, stopDaemon } from '../rpc/lib/procs.mjs';
import { ctl, standInStartup } from './lib/standins.mjs';
import { compileTs, exitOnSignals, loadNetns } from './lib/nodes.mjs';
import { TroveHarness } from './lib/trove.mjs';
import { benchArgs, loopbackBroker, progressLog } from '../lib/args.mjs';
import { instanceKey, writeGuestFiles } from '../lib/guest-files.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../..');
const require = createRequire(import.meta.url);
const STANDINS = join(ROOT, 'test/doubles/chmpx');
// The template the agent ships (and the dashboard provisions with).
const TEMPLATE = join(ROOT, 'datastore/k2hdkc-dbaas-template.txt');
const KEYSTONE_TOKEN = 'gAAAAABbenchKEYSTONEtokenNOTaSECRET0000000000000000';
// spec k2hr3-chmpx-k2hdkc.md §3.3, k2hdkctrove.sh `start`: sleep 15 after registering, the
// first 30 s loop wait before the INI is even fetched, sleep 10 after starting chmpx and
// sleep 10 after starting k2hdkc. Sleeps only: fetching, starting and Trove's polling come on top.
const OLD_FIXED_WAITS_S = 15 + 30 + 10 + 10;
/** Agent log lines that end each phase of a prepare, with what the phase does. */
const PHASES = [
  ['bootstrap', 'K2HR3 bootstrap from the extdata URL', 'start marker, `building` beat'],
  ['registered', 'registered in K2HR3', 'GET extdata, save it, PUT role'],
  ['ini', 'INI in place', 'GET resource, check, write INI'],
  ['started', 'node processes started', 'chmpx up (ctlport), k2hdkc spawn'],
  ['healthy', 'node healthy', 'until SELFSTATUS is SERVICE IN'],
  ['finished', 'prepare finished', 'end marker, `healthy` beat'],
];

const cli = benchArgs(
  {
    runs: { type: 'string', default: '10' },
    // 3-member clusters created at once (issue 10): prepare casts -> every member SERVICE IN in one ring.
    'cluster-runs': { type: 'string', default: '3' },
    // Unset = the agent's default ([k2hdkc] health_poll_ms, 200 ms), what a guest runs with.
    'health-poll-ms': { type: 'string' },
    broker: { type: 'string', default: '127.0.0.1:5672' },
    address: { type: 'string', default: '127.0.0.91' },
  },
  'usage: node bench/prepare/run.mjs [--runs 10] [--cluster-runs 3] [--health-poll-ms N] [--broker 127.0.0.1:5672]\n' +
    '       [--address 127.0.0.91] [--json] [--keep]\n' +
    'See bench/README.md. Needs `npm run build`, RabbitMQ (guest/guest) on loopback, python3-trove, and root\n' +
    '(each node in its own network namespace: ip, sysctl, nsenter, unshare).\n',
);
const RUNS = Number(cli.runs);
const { amqpUrl: AMQP_URL, rabbitUrl: RABBIT_URL } = loopbackBroker(cli.broker, 'bench/prepare');
const BROKER_PORT = Number(cli.broker.split(':')[1] ?? 5672);
// Each node has its own network, so every node uses the template's ports, as VMs do.
const PORTS = { serverPort: 8020, serverCtlport: 8021, slaveCtlport: 8031 };

const progress = progressLog();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The K2HR3 API double is TypeScript (test/doubles/k2hr3); compiled next to dist/ so it finds node_modules. */
function loadK2hr3Double() {
  return compileTs(ROOT, join(ROOT, 'test/doubles/k2hr3'), 'index.ts', join(ROOT, 'dist/bench/k2hr3-double'));
}

/**
 * A fresh node ("VM") on `address` for one run: its namespace, the broker and the K2HR3 double
 * reached at 127.0.0.1 inside it, and its own directory for chmpx's shared memory files (named
 * `<GROUP>-<CTLPORT>`, the same on every node). Removed again with ctx.network.removeNode.
 */
async function addNode(ctx, address, dir) {
  const node = await ctx.network.addNode(address);
  const shmDir = join(dir, 'shm');
  mkdirSync(shmDir, { recursive: true });
  return { node, env: { ...process.env, CHMPX_DOUBLE_SHM_DIR: shmDir } };
}

/** The agent on its config files, run inside `node`. */
function startAgent(node, env, files, logPath) {
  const { command, args } = node.command(process.execPath, [join(ROOT, 'bin/k2hdkc-trove-agent'), '--config-file', files.agentConf, '--config-file', files.infoConf]);
  return startDaemon(command, args, logPath, env);
}

/** The two files Trove injects into a guest, with the [k2hdkc] node options. */
function writeGuestConfig(dir, o) {
  return writeGuestFiles(dir, {
    ...o,
    rabbitUrl: RABBIT_URL,
    // Long, so the periodic beat does not rewrite the row we read the `healthy` time from.
    reportInterval: 60,
    logLevel: 'info',
    k2hdkc: [
      'datastore = k2hdkc',
      'mode = server',
      `extdata_url = ${o.extdataUrl}`,
      `local_address = ${o.address ?? cli.address}`,
      `node_name = ${o.address ?? cli.address}`,
      `ini_path = ${join(dir, 'k2hdkc.ini')}`,
      'process_manager = supervisor',
      `chmpx_path = ${join(STANDINS, 'chmpx')}`,
      `k2hdkc_path = ${join(STANDINS, 'k2hdkc')}`,
      `run_dir = ${join(dir, 'run')}`,
      `daemon_log_dir = ${join(dir, 'log')}`,
      'manage_volume = false',
      'raise_mqueue = false',
      'prepare_timeout_seconds = 60',
      ...(cli['health-poll-ms'] === undefined ? [] : [`health_poll_ms = ${cli['health-poll-ms']}`]),
    ],
  });
}

/** `updated_at` of a Trove row (UTC, `YYYY-MM-DD HH:MM:SS[.ffffff]`) as epoch ms. */
function troveTime(text) {
  const m = /^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(\.\d+)?$/.exec(String(text));
  if (!m) throw new Error(`unexpected updated_at ${text}`);
  return Date.parse(`${m[1]}T${m[2]}Z`) + (m[3] ? Number(m[3]) * 1000 : 0);
}

/** Epoch ms of the agent's first log line with each `msg` (pino JSON lines on stdout; ISO or epoch `time`). */
function agentLogTimes(logPath) {
  const times = {};
  for (const line of readFileSync(logPath, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line);
      if (typeof entry.msg === 'string' && !(entry.msg in times)) times[entry.msg] = typeof entry.time === 'number' ? entry.time : Date.parse(entry.time);
    } catch {
      /* not JSON */
    }
  }
  return times;
}

async function oneRun(i, ctx) {
  const { harness, double, Provisioner, conn, work, exchange, conductorQueue } = ctx;
  const id = randomUUID();
  const key = instanceKey();
  const tenantId = 'bench';
  const dir = join(work, `run-${i}`);
  await harness.request('add_instance', { instance_id: id, key, tenant_id: tenantId });
  const cluster = await new Provisioner({ apiUrl: double.url, timeoutMs: 5000 }).provision(KEYSTONE_TOKEN, {
    tenant: 'demo', cluster: `benchprep${randomBytes(3).toString('hex')}`, template: readFileSync(TEMPLATE, 'utf8'), mode: 'server', ports: PORTS,
  });
  const files = writeGuestConfig(dir, { id, key, tenantId, exchange, conductorQueue, extdataUrl: double.extdataUrlFor(cluster.roleYrn).url });
  const agentLog = join(dir, 'agent.log');
  const { node, env } = await addNode(ctx, cli.address, dir);
  let agent;
  try {
    agent = startAgent(node, env, files, agentLog);
    ctx.ids.push(id);
    await waitForConsumer(conn, `guestagent.${id}`, 30_000, agent.exited);
    // Trove's API.prepare: pre-creates the guest queue, then casts `prepare` and returns.
    const callAt = Date.now();
    const sent = await harness.request('invoke', {
      instance_id: id, tenant_id: tenantId, method: 'prepare', cap: 'latest', notification: false, low_timeout: null,
      kwargs: { memory_mb: 512, packages: '', databases: [], users: [], mount_point: join(dir, 'data'), ds_version: '1.0.14' },
    });
    const returnedAt = Date.now();
    if (!sent.ok) throw new Error(`prepare cast failed: ${JSON.stringify(sent.error)}`);
    let row;
    const deadline = Date.now() + 90_000;
    for (;;) {
      row = await harness.request('status', { instance_id: id });
      if (row?.status_description === 'healthy' || row?.status_description === 'failed to spawn') break;
      if (Date.now() > deadline) throw new Error(`no healthy row after 90 s (last: ${row?.status_description})`);
      await sleep(20);
    }
    if (row.status_description !== 'healthy') throw new Error(`prepare failed:\n${logTail(agentLog)}`);
    const healthyAt = troveTime(row.updated_at);
    const log = agentLogTimes(agentLog);
    const receivedAt = log['prepare started'];
    // The cast left Trove before API.prepare returned and before the agent logged it.
    const castAt = Math.min(returnedAt, receivedAt ?? returnedAt);
    const phases = {};
    let previous = receivedAt;
    for (const [name, msg] of PHASES) {
      if (log[msg] === undefined || previous === undefined) continue;
      phases[name] = log[msg] - previous;
      previous = log[msg];
    }
    const stop = await harness.request('invoke', { instance_id: id, tenant_id: tenantId, method: 'stop_db', kwargs: {}, cap: 'latest', notification: false, low_timeout: null });
    if (!stop.ok) throw new Error(`stop_db failed: ${JSON.stringify(stop.error)}`);
    await stopDaemon(agent);
    const standIns = await standInStartup({
      node, connectTcp: ctx.connectTcp, chmpx: join(STANDINS, 'chmpx'), k2hdkc: join(STANDINS, 'k2hdkc'), iniPath: join(dir, 'k2hdkc.ini'),
      ctlport: PORTS.serverCtlport, logPath: join(dir, 'standins.log'), env,
    });
    return {
      total: healthyAt - castAt,
      troveApiPrepare: returnedAt - callAt,
      castToAgent: receivedAt === undefined ? null : receivedAt - castAt,
      agentToConductor: log['prepare finished'] === undefined ? null : healthyAt - log['prepare finished'],
      standIns,
      overhead: healthyAt - castAt - standIns,
      phases,
    };
  } finally {
    if (agent) await stopDaemon(agent);
    await ctx.network.removeNode(cli.address);
  }
}

/** The addresses of a 3-member cluster run: the next three after --address. */
function memberAddresses() {
  const [p1, p2, p3, p4] = cli.address.split('.').map(Number);
  return [1, 2, 3].map((k) => `${p1}.${p2}.${p3}.${p4 + k}`);
}

/** Server Status words of an ALLSTATUS reply. */
const ringWords = (all) => [...String(all ?? '').matchAll(/Server Status\s*= 0x[0-9a-f]+\(SAFE -> ([^)]*)\)/g)].map((m) => m[1]);
const HEALTHY_WORD = '[SERVICE IN][UP][n/a][Nothing][NoSuspend]';

/**
 * One 3-member cluster created at once, as Trove's cluster create does: three agents, three
 * prepare casts with cluster_config sent together; the figure is the time from the first cast
 * until every member's ALLSTATUS shows three servers, all SERVICE IN (one ring). The agents run
 * with their defaults (k2hr3_poll_seconds 10): a member starts once the others list it.
 */
async function oneClusterRun(i, ctx) {
  const { harness, double, Provisioner, conn, work, exchange, conductorQueue } = ctx;
  const tenantId = 'bench';
  const addresses = memberAddresses();
  const cluster = await new Provisioner({ apiUrl: double.url, timeoutMs: 5000 }).provision(KEYSTONE_TOKEN, {
    tenant: 'demo', cluster: `benchring${randomBytes(3).toString('hex')}`, template: readFileSync(TEMPLATE, 'utf8'), mode: 'server', ports: PORTS,
  });
  const members = [];
  try {
    for (const address of addresses) {
      const id = randomUUID();
      const key = instanceKey();
      const dir = join(work, `cluster-${i}-${address}`);
      await harness.request('add_instance', { instance_id: id, key, tenant_id: tenantId });
      const files = writeGuestConfig(dir, { id, key, tenantId, exchange, conductorQueue, address, extdataUrl: double.extdataUrlFor(cluster.roleYrn).url });
      const agentLog = join(dir, 'agent.log');
      const { node, env } = await addNode(ctx, address, dir);
      const agent = startAgent(node, env, files, agentLog);
      ctx.ids.push(id);
      members.push({ id, dir, address, agent, agentLog });
    }
    for (const m of members) await waitForConsumer(conn, `guestagent.${m.id}`, 30_000, m.agent.exited);
    const castAt = Date.now();
    const sent = await Promise.all(members.map((m) => harness.request('invoke', {
      instance_id: m.id, tenant_id: tenantId, method: 'prepare', cap: 'latest', notification: false, low_timeout: null,
      kwargs: { memory_mb: 512, packages: '', databases: [], users: [], mount_point: join(m.dir, 'data'), ds_version: '1.0.14', cluster_config: { id: `bench-${i}`, instance_type: 'member' } },
    })));
    for (const s of sent) if (!s.ok) throw new Error(`prepare cast failed: ${JSON.stringify(s.error)}`);
    const deadline = Date.now() + 120_000;
    let readyAt = null;
    for (;;) {
      const views = await Promise.all(members.map((m) => ctl(ctx.connectTcp, m.address, PORTS.serverCtlport, 'ALLSTATUS')));
      const now = Date.now();
      if (views.every((v) => { const w = ringWords(v); return w.length === 3 && w.every((x) => x === HEALTHY_WORD); })) {
        readyAt ??= now;
        break;
      }
      if (now > deadline) throw new Error(`no ring of 3 after 120 s:\n${logTail(members[2].agentLog)}`);
      await sleep(20);
    }
    const rows = await Promise.all(members.map((m) => harness.request('status', { instance_id: m.id })));
    for (const m of members) {
      await harness.request('invoke', { instance_id: m.id, tenant_id: tenantId, method: 'stop_db', kwargs: {}, cap: 'latest', notification: false, low_timeout: null }).catch(() => undefined);
    }
    return { ring: readyAt - castAt, rows: rows.map((r) => r?.status_description) };
  } finally {
    for (const m of members) await stopDaemon(m.agent);
    for (const address of addresses) await ctx.network.removeNode(address);
  }
}

/** Nearest-rank percentile. */
function pct(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

function report(runs, meta, clusterRuns = []) {
  const ms = (v) => (v === null || v === undefined ? '-' : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`);
  const row = (label, values, extra = '') => {
    const vs = values.filter((v) => v !== null && v !== undefined);
    return `${label.padEnd(44)}${ms(pct(vs, 0.5)).padStart(9)}${ms(pct(vs, 0.95)).padStart(9)}${ms(Math.min(...vs)).padStart(9)}${ms(Math.max(...vs)).padStart(9)}  ${extra}`;
  };
  const overhead = runs.map((r) => r.overhead);
  const lines = [
    `bench/prepare: ${runs.length} runs, ${meta.host}, load average ${meta.load}, health_poll_ms ${cli['health-poll-ms'] ?? '200 (default)'}`,
    '',
    `${''.padEnd(44)}${'p50'.padStart(9)}${'p95'.padStart(9)}${'min'.padStart(9)}${'max'.padStart(9)}`,
    `${'-'.repeat(44)}${' --------'.repeat(4)}`,
    row('prepare cast -> healthy row (conductor)', runs.map((r) => r.total)),
    row('  stand-ins alone: chmpx spawn -> healthy', runs.map((r) => r.standIns)),
    row('  agent overhead (total - stand-ins)', overhead, `target <= 2 s: ${pct(overhead, 0.95) <= 2000 ? 'met (p95)' : 'NOT met (p95)'}`),
    row('    cast -> agent starts prepare', runs.map((r) => r.castToAgent)),
    ...PHASES.map(([name, , what]) => row(`    agent: ${what}`, runs.map((r) => r.phases[name]))),
    row('    agent done -> conductor row healthy', runs.map((r) => r.agentToConductor)),
    row('Trove API.prepare (queue + cast; not counted)', runs.map((r) => r.troveApiPrepare)),
    ...(clusterRuns.length === 0
      ? []
      : [row(`3-member cluster at once: casts -> one ring of 3 (${clusterRuns.length} runs)`.slice(0, 43), clusterRuns.map((r) => r.ring), 'every member SERVICE IN in one ring')]),
    '',
    `old integration (k2hdkctrove.sh, spec k2hr3-chmpx-k2hdkc.md §3.3): >= ${OLD_FIXED_WAITS_S} s of fixed sleeps alone ` +
      '(15 s after registering + 30 s first loop wait + 10 s after chmpx + 10 s after k2hdkc)',
    `ratio: p50 total / 65 s = ${(pct(runs.map((r) => r.total), 0.5) / (OLD_FIXED_WAITS_S * 1000)).toFixed(3)}`,
  ];
  return lines.join('\n');
}

async function main() {
  if (!existsSync(join(ROOT, 'dist/src/cli.js'))) throw new Error('dist/src/cli.js is missing: run `npm run build` first');
  const work = mkdtempSync(join(tmpdir(), 'k2hdkc-bench-prepare-'));
  const suffix = randomBytes(4).toString('hex');
  const exchange = `trove-bench-${suffix}`;
  const conductorQueue = `trove-conductor-bench-${suffix}`;
  const { K2hr3Double } = loadK2hr3Double();
  const { NodeNetwork, connectTcp } = loadNetns(ROOT);
  const { K2hr3Provisioner } = require(join(ROOT, 'dist/src/k2hr3/provision.js'));
  const double = new K2hr3Double({ keystone: { [KEYSTONE_TOKEN]: { user: 'bench', projects: ['demo'] } } });
  await double.start();
  exitOnSignals(progress, work);
  // The nodes reach the broker and the K2HR3 double at 127.0.0.1 of the host, from their own address.
  const network = await NodeNetwork.create({ forward: [BROKER_PORT, Number(new URL(double.url).port)] }).catch(async (error) => {
    await double.stop();
    throw error;
  });
  const harness = new TroveHarness(join(ROOT, 'test/trove/harness.py'), join(work, 'trove'));
  const conn = await openBroker(AMQP_URL);
  const ctx = { harness, double, Provisioner: K2hr3Provisioner, conn, work, exchange, conductorQueue, network, connectTcp, ids: [], clusterRuns: [] };
  const runs = [];
  const notes = [];
  progress(`work dir ${work}`);
  try {
    await harness.request('init', { workdir: join(work, 'trove'), transport_url: RABBIT_URL, control_exchange: exchange, conductor_queue: conductorQueue });
    await harness.request('start_conductor');
    progress('trove-conductor up');
    for (let i = 0; i < Number(cli['cluster-runs']); i++) {
      try {
        const r = await oneClusterRun(i, ctx);
        ctx.clusterRuns.push(r);
        progress(`cluster run ${i + 1}: one ring of 3 after ${Math.round(r.ring)} ms (rows: ${r.rows.join(', ')})`);
      } catch (error) {
        notes.push(`cluster run ${i + 1}: ${error.message}`);
        progress(`cluster run ${i + 1} failed: ${error.message}`);
      }
    }
    for (let i = 0; i < RUNS; i++) {
      try {
        const r = await oneRun(i, ctx);
        runs.push(r);
        progress(`run ${i + 1}/${RUNS}: total ${Math.round(r.total)} ms, stand-ins ${Math.round(r.standIns)} ms, overhead ${Math.round(r.overhead)} ms`);
      } catch (error) {
        notes.push(`run ${i + 1}: ${error.message}`);
        progress(`run ${i + 1}/${RUNS} failed: ${error.message}`);
      }
    }
  } finally {
    await harness.request('stop_conductor').catch(() => undefined);
    await harness.close();
    await cleanUp(conn, ctx.ids, exchange).catch(() => undefined);
    const ch = await conn.createChannel().catch(() => undefined);
    if (ch) {
      ch.on('error', () => {});
      for (const q of [conductorQueue, `${conductorQueue}.0.0.0.0`]) await ch.deleteQueue(q).catch(() => undefined);
    }
    await conn.close().catch(() => undefined);
    await network.close();
    await double.stop();
  }
  const meta = { host: `${hostname()}, node ${process.version}`, load: loadavg().map((l) => l.toFixed(1)).join(' ') };
  if (runs.length > 0) process.stdout.write(`${report(runs, meta, ctx.clusterRuns)}\n`);
  for (const note of notes) process.stdout.write(`note: ${note}\n`);
  if (cli.keep || notes.length > 0) process.stdout.write(`work dir kept: ${work}\n`);
  else rmSync(work, { recursive: true, force: true });
  if (cli.json) process.stdout.write(`${JSON.stringify({ meta, runs, clusterRuns: ctx.clusterRuns, notes })}\n`);
  if (runs.length === 0) process.exitCode = 1;
}

main().catch((error) => {
  process.stderr.write(`bench/prepare: ${error.stack ?? error}\n`);
  process.exitCode = 1;
});
