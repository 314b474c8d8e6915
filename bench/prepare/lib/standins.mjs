// The stand-ins' own start-up time, without the agent: chmpx on the INI the agent wrote, its
// control port polled every 5 ms until it answers, then k2hdkc, polled until SELFSTATUS shows a
// healthy server. This is the floor any agent pays; the rest of a prepare is the agent's.
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { connect } from 'node:net';

const HEALTHY = '[SERVICE IN][UP][n/a][Nothing][NoSuspend]';
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** One control-port command (spec §5.4: one command per connection, reply read to EOF); null on any error. */
export function ctl(host, port, command, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    let reply = '';
    socket.setTimeout(timeoutMs, () => socket.destroy());
    socket.on('connect', () => socket.write(`${command}\n`));
    socket.on('data', (d) => (reply += d.toString('utf8')));
    socket.on('end', () => resolve(reply));
    socket.on('error', () => resolve(null));
    socket.on('close', () => resolve(reply === '' ? null : reply));
  });
}

function start(command, iniPath, logPath) {
  const fd = openSync(logPath, 'a', 0o600);
  const child = spawn(command, ['-conf', iniPath], { stdio: ['ignore', fd, fd] });
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
 * Starts chmpx then k2hdkc on `iniPath` as the agent's supervisor does and returns the ms from
 * spawning chmpx to a healthy SELFSTATUS; both are stopped again (k2hdkc SIGTERM, chmpx SIGINT).
 */
export async function standInStartup({ chmpx, k2hdkc, iniPath, host, ctlport, logPath }) {
  const deadline = Date.now() + 30_000;
  const t0 = performance.now();
  const c = start(chmpx, iniPath, logPath);
  let k;
  try {
    await until('chmpx control port', deadline, async () => (await ctl(host, ctlport, 'SELFSTATUS')) !== null);
    k = start(k2hdkc, iniPath, logPath);
    await until('healthy SELFSTATUS', deadline, async () => ((await ctl(host, ctlport, 'SELFSTATUS')) ?? '').includes(HEALTHY));
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
