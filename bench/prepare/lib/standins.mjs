// The stand-ins' own start-up time, without the agent: chmpx on the INI the agent wrote, its
// control port polled every 5 ms until it answers, then k2hdkc, polled until SELFSTATUS shows a
// healthy server. This is the floor any agent pays; the rest of a prepare is the agent's.
// The stand-ins run inside the node's network namespace (nodes.mjs): `node.command` wraps them,
// and the control port is reached through the node's relay (`connectTcp` of test/helpers/netns).
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';

const HEALTHY = '[SERVICE IN][UP][n/a][Nothing][NoSuspend]';
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One control-port command (spec §5.4: one command per connection, reply read to EOF); null on
 * any error. `connectTcp(host, port)`: test/helpers/netns's, a paused connected socket.
 */
export async function ctl(connectTcp, host, port, command, timeoutMs = 1000) {
  let socket;
  try {
    socket = await connectTcp(host, port, timeoutMs);
  } catch {
    return null;
  }
  return new Promise((resolve) => {
    let reply = '';
    socket.setTimeout(timeoutMs, () => socket.destroy());
    socket.on('data', (d) => (reply += d.toString('utf8')));
    socket.on('end', () => resolve(reply));
    socket.on('error', () => resolve(null));
    socket.on('close', () => resolve(reply === '' ? null : reply));
    socket.write(`${command}\n`);
    socket.resume();
  });
}

function start(node, program, iniPath, logPath, env) {
  const fd = openSync(logPath, 'a', 0o600);
  const { command, args } = node.command(program, ['-conf', iniPath]);
  const child = spawn(command, args, { stdio: ['ignore', fd, fd], env });
  closeSync(fd);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return { child, exited };
}

async function until(what, deadline, check) {
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`stand-ins: ${what} not reached`);
    await sleep(5);
  }
}

/**
 * Starts chmpx then k2hdkc on `iniPath` inside `node` (nsenter execs them: the pids are theirs)
 * as the agent's supervisor does and returns the ms from spawning chmpx to a healthy SELFSTATUS;
 * both are stopped again (k2hdkc SIGTERM, chmpx SIGINT).
 */
export async function standInStartup({ node, connectTcp, chmpx, k2hdkc, iniPath, ctlport, logPath, env }) {
  const deadline = Date.now() + 30_000;
  const host = node.address;
  const t0 = performance.now();
  const c = start(node, chmpx, iniPath, logPath, env);
  let k;
  try {
    await until('chmpx control port', deadline, async () => (await ctl(connectTcp, host, ctlport, 'SELFSTATUS')) !== null);
    k = start(node, k2hdkc, iniPath, logPath, env);
    await until('healthy SELFSTATUS', deadline, async () => ((await ctl(connectTcp, host, ctlport, 'SELFSTATUS')) ?? '').includes(HEALTHY));
    return performance.now() - t0;
  } finally {
    if (k) {
      k.child.kill('SIGTERM');
      await k.exited;
      // As the agent does: chmpx crashes (SIGSEGV, files and queues left) on a SIGINT right after its client left.
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    c.child.kill('SIGINT');
    await c.exited;
  }
}
