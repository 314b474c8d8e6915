// bench/rpc: rpc_ping through Trove's own client against our agent as a production guest runs
// (health endpoint on), a Python reference guest (oslo.messaging's RPC server + Trove's
// SecureSerializer) and a bare amqplib floor guest, all on one broker in one run; prints p50 and
// p99 latency, calls/s under 16 concurrent callers and guest RSS beside issue 11's targets.
// `--guests` may add `ours-off` (the agent with its endpoint off) as a further column.
// `npm run bench:rpc [-- --help]`. A benchmark: it prints figures and never asserts timings.
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanUp, openBroker, waitForConsumer } from './lib/broker.mjs';
import { PYTHON, cpuSeconds, logTail, memoryKiB, runJson, startDaemon, startGated, stopDaemon } from './lib/procs.mjs';
import { formatReport } from './lib/report.mjs';
import { benchArgs, loopbackBroker, progressLog } from '../lib/args.mjs';
import { instanceKey, writeGuestFiles } from '../lib/guest-files.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../..');
const CALLER = join(HERE, 'caller.py');
const ALL_GUESTS = ['reference', 'ours', 'floor', 'ours-off'];
const DEFAULT_GUESTS = ['reference', 'ours', 'floor'];
/** Our agent's columns: `ours` is the production configuration (health endpoint on). */
const AGENT_GUESTS = new Set(['ours', 'ours-off']);

const cli = benchArgs(
  {
    calls: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '200' },
    duration: { type: 'string', default: '5' },
    procs: { type: 'string', default: '4' },
    threads: { type: 'string', default: '4' },
    broker: { type: 'string', default: '127.0.0.1:5672' },
    // Another checkout or copy of the agent (its bin/ and dist/), e.g. to compare two builds.
    'agent-root': { type: 'string', default: ROOT },
    // Extra node flags for our agent only (space-separated), e.g. to try V8 memory flags.
    'agent-node-args': { type: 'string', default: '' },
    guests: { type: 'string', default: DEFAULT_GUESTS.join(',') },
  },
  'usage: node bench/rpc/run.mjs [--calls 2000] [--warmup 200] [--duration 5] [--procs 4] [--threads 4]\n' +
    '       [--broker 127.0.0.1:5672] [--guests reference,ours,floor[,ours-off]] [--agent-root DIR]\n' +
    '       [--agent-node-args="--flag ..."] [--json] [--keep]\n' +
    'See bench/README.md. RabbitMQ user guest/guest; the broker must be on loopback.\n',
);
const options = {
  calls: Number(cli.calls),
  warmup: Number(cli.warmup),
  duration: Number(cli.duration),
  procs: Number(cli.procs),
  threads: Number(cli.threads),
  broker: cli.broker,
  agentRoot: resolve(cli['agent-root']),
  agentNodeArgs: cli['agent-node-args'],
};
const AGENT_ROOT = resolve(cli['agent-root']);
const { amqpUrl: AMQP_URL, rabbitUrl: RABBIT_URL } = loopbackBroker(options.broker, 'bench/rpc');

const progress = progressLog();

/** Writes the two files Trove injects into a guest; both guests and our agent read them. */
function writeGuestConfig(dir, id, key, exchange, httpPort) {
  return writeGuestFiles(dir, {
    httpPort,
    rabbitUrl: RABBIT_URL,
    exchange,
    // Nothing is prepared, so no heartbeat is sent; a private name keeps it that way anyway.
    conductorQueue: `${exchange}-conductor`,
    reportInterval: 30,
    logLevel: 'warn',
    id,
    tenantId: 'bench',
    key,
  });
}

/** A free loopback port for the health endpoint (asked of the kernel, then released). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** One GET of the health endpoint: shows the production column really serves it. */
async function checkHealth(port) {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(5000) });
  const body = await response.json().catch(() => ({}));
  return { httpStatus: response.status, status: body.status ?? null, brokerConnected: body.broker_connected ?? null };
}

function guestCommand(name, files) {
  if (AGENT_GUESTS.has(name)) {
    const nodeArgs = cli['agent-node-args'].split(' ').filter(Boolean);
    const launcher = join(AGENT_ROOT, 'bin/k2hdkc-trove-agent');
    const confArgs = ['--config-file', files.agentConf, '--config-file', files.infoConf];
    // Executed as systemd does, so the node flags on the launcher's #! line apply (env execs
    // node: the pid stays node's). --agent-node-args replaces them: `node <args> launcher`.
    if (nodeArgs.length === 0) return [launcher, confArgs];
    return [process.execPath, [...nodeArgs, launcher, ...confArgs]];
  }
  if (name === 'reference') {
    return [PYTHON, [join(HERE, 'reference_guest.py'), '--config-file', files.agentConf, '--config-file', files.infoConf]];
  }
  return [process.execPath, [join(HERE, 'floor-guest.mjs'), '--url', AMQP_URL, '--exchange', files.exchange, '--guest-info', files.infoConf]];
}

async function measureLoad(guest, confPath, logDir) {
  const args = [CALLER, 'load', '--conf', confPath, '--instance', guest.id, '--threads', String(options.threads), '--warmup', '20', '--duration', String(options.duration)];
  const callers = Array.from({ length: options.procs }, (_, i) => startGated(PYTHON, args, join(logDir, `load-${guest.name}-${i}.log`)));
  const gate = Promise.all(callers.map((c) => c.ready));
  progress(`load: ${guest.name}: ${options.procs} caller processes warming up`);
  const gateTimeout = new Promise((_, reject) => setTimeout(() => reject(new Error('load callers not ready after 120 s')), 120_000).unref());
  try {
    await Promise.race([gate, gateTimeout]);
  } catch (error) {
    callers.forEach((c) => c.child.kill('SIGKILL'));
    throw error;
  }
  progress(`load: ${guest.name}: go`);
  const cpu0 = cpuSeconds(guest.daemon.pid);
  callers.forEach((c) => c.go());
  const settled = await Promise.allSettled(callers.map((c) => c.result));
  const cpu1 = cpuSeconds(guest.daemon.pid);
  const done = settled.filter((s) => s.status === 'fulfilled').map((s) => s.value);
  if (done.length < callers.length) guest.notes.push(`${callers.length - done.length} load caller(s) failed: ${settled.find((s) => s.status === 'rejected').reason.message}`);
  const calls = done.reduce((sum, r) => sum + r.calls, 0);
  const elapsed = Math.max(...done.map((r) => r.elapsed_s));
  return {
    calls,
    errors: done.reduce((sum, r) => sum + r.errors + r.warmup_errors, 0),
    callsPerSecond: done.length > 0 ? calls / elapsed : null,
    cpuSeconds: cpu0 !== null && cpu1 !== null ? cpu1 - cpu0 : null,
  };
}

async function main() {
  const startedAt = new Date().toISOString();
  const work = mkdtempSync(join(tmpdir(), 'k2hdkc-bench-'));
  const logDir = join(work, 'logs');
  mkdirSync(logDir, { mode: 0o700 });
  const exchange = `trove-bench-${randomBytes(4).toString('hex')}`;
  const run = { startedAt, host: `${hostname()}, node ${process.version}`, options, guests: {}, notes: [] };
  const wanted = cli.guests.split(',').filter((g) => ALL_GUESTS.includes(g));
  if (wanted.some((g) => AGENT_GUESTS.has(g)) && !existsSync(join(AGENT_ROOT, 'dist/src/cli.js'))) {
    run.notes.push('ours skipped: dist/src/cli.js is missing (run `npm run build` first)');
    for (const name of AGENT_GUESTS) if (wanted.includes(name)) wanted.splice(wanted.indexOf(name), 1);
  }
  const guests = [];
  for (const name of wanted) {
    const id = randomUUID();
    const key = instanceKey();
    const httpPort = name === 'ours' ? await freePort() : 0;
    const files = { ...writeGuestConfig(join(work, name), id, key, exchange, httpPort), exchange };
    guests.push({ name, id, key, files, httpPort, notes: [], result: {} });
  }
  const conn = await openBroker(AMQP_URL);
  progress(`work dir ${work}; guests ${wanted.join(', ')}`);
  try {
    // The caller's trove.conf and sqlite rows: how Trove's API finds each instance key.
    const setup = await runJson(PYTHON, [CALLER, 'setup', '--workdir', join(work, 'caller'), '--transport-url', RABBIT_URL, '--exchange', exchange, '--low-timeout', '5'], {
      input: JSON.stringify({ instances: guests.map(({ id, key }) => ({ id, key })) }),
      logPath: join(logDir, 'caller-setup.log'),
      timeoutMs: 120_000,
    });
    progress('caller set up; starting guests');
    for (const guest of guests) {
      const [command, args] = guestCommand(guest.name, guest.files);
      guest.daemon = startDaemon(command, args, join(logDir, `${guest.name}.log`));
    }
    for (const guest of guests) {
      try {
        await waitForConsumer(conn, `guestagent.${guest.id}`, 30_000, guest.daemon.exited);
        guest.up = true;
        if (guest.httpPort !== 0) {
          guest.result.health = await checkHealth(guest.httpPort).catch((error) => ({ error: error.message }));
          if (guest.result.health.httpStatus !== 200) guest.notes.push(`health endpoint: ${JSON.stringify(guest.result.health)}`);
        }
      } catch (error) {
        guest.notes.push(`did not start: ${error.message}\n${logTail(guest.daemon.logPath)}`);
      }
    }
    const live = guests.filter((g) => g.up);
    // One caller, the guests' calls interleaved in rounds of one call each, in a random order per
    // round: machine noise falls on every column alike (it matters most for p99), and no guest
    // always follows the reference, which keeps working after its reply (caller.py).
    progress(`latency: ${live.map((g) => g.name).join(', ')} interleaved`);
    const latencyArgs = [CALLER, 'latency', '--conf', setup.conf_path, ...live.flatMap((g) => ['--instance', g.id]),
      '--warmup', String(options.warmup), '--calls', String(options.calls), '--max-seconds', String(30 * live.length)];
    const latency = live.length === 0 ? null : await runJson(PYTHON, latencyArgs, { logPath: join(logDir, 'latency.log'), timeoutMs: 150_000 * live.length }).catch((error) => {
      run.notes.push(`latency: ${error.message}`);
      return null;
    });
    for (const guest of live) guest.result.latency = latency?.by_instance?.[guest.id];
    // Before any load: what a guest that answers the odd call holds (most of a guest's life).
    for (const guest of live) guest.result.memoryBeforeLoad = memoryKiB(guest.daemon.pid);
    for (const guest of live) {
      progress(`load: ${guest.name}`);
      guest.result.load = await measureLoad(guest, setup.conf_path, logDir).catch((error) => {
        guest.notes.push(`load: ${error.message}`);
        return undefined;
      });
    }
    for (const guest of live) guest.result.memory = memoryKiB(guest.daemon.pid);
    progress('done; stopping guests');
  } finally {
    await Promise.all(guests.filter((g) => g.daemon).map((g) => stopDaemon(g.daemon)));
    await cleanUp(conn, guests.map((g) => g.id), exchange).catch(() => {});
    await conn.close().catch(() => {});
  }
  for (const guest of guests) {
    run.guests[guest.name] = guest.result;
    run.notes.push(...guest.notes.map((n) => `${guest.name}: ${n}`));
  }
  if (cli.keep || run.notes.length > 0) run.notes.push(`work dir kept: ${work}`);
  else rmSync(work, { recursive: true, force: true });
  process.stdout.write(`${formatReport(run)}\n`);
  if (cli.json) process.stdout.write(`${JSON.stringify(run)}\n`);
}

main().catch((error) => {
  process.stderr.write(`bench/rpc: ${error.stack ?? error}\n`);
  process.exitCode = 1;
});
