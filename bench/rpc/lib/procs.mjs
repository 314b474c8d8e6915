// Child processes for bench/rpc: guests that run for the whole bench, callers that print one
// JSON line, and /proc readings (memory, CPU time) of a guest. Argument arrays only, no shell.
import { spawn, spawnSync } from 'node:child_process';
import { openSync, readFileSync, closeSync } from 'node:fs';
import { createInterface } from 'node:readline';

export const PYTHON = '/usr/bin/python3'; // Debian's: python3-trove and oslo.messaging live there

/** Starts a long-running process with stdout and stderr going to `logPath`. */
export function startDaemon(command, args, logPath, env = process.env) {
  const fd = openSync(logPath, 'a', 0o600);
  const child = spawn(command, args, { stdio: ['ignore', fd, fd], env });
  closeSync(fd);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, pid: child.pid, exited, logPath };
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves with how it ended. */
export async function stopDaemon(daemon, graceMs = 10_000) {
  if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) return daemon.exited;
  daemon.child.kill('SIGTERM');
  let timer;
  const killed = new Promise((resolve) => {
    timer = setTimeout(() => {
      daemon.child.kill('SIGKILL');
      resolve();
    }, graceMs);
  });
  await Promise.race([daemon.exited, killed]);
  clearTimeout(timer);
  return daemon.exited;
}

export function logTail(path, lines = 15) {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Runs a caller to completion and parses the last stdout line as JSON. `input` is written to
 * stdin (then closed); stderr goes to `logPath`. Killed after `timeoutMs`.
 */
export function runJson(command, args, { input = '', logPath, timeoutMs }) {
  return new Promise((resolve, reject) => {
    const fd = openSync(logPath, 'a', 0o600);
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', fd] });
    closeSync(fd);
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const last = out.trimEnd().split('\n').pop() ?? '';
      if (code === 0) {
        try {
          return resolve(JSON.parse(last));
        } catch {
          /* fall through */
        }
      }
      reject(new Error(`${args[1] ?? command} ended with ${signal ?? code}: ${logTail(logPath, 5)}`));
    });
    child.stdin.end(input);
  });
}

/**
 * A caller that prints {"ready": true}, waits for a line on stdin, works, then prints its
 * result: lets several processes start their timed part together.
 */
export function startGated(command, args, logPath) {
  const fd = openSync(logPath, 'a', 0o600);
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', fd] });
  closeSync(fd);
  const lines = createInterface({ input: child.stdout });
  let onReady;
  const ready = new Promise((resolve) => (onReady = resolve));
  const result = new Promise((resolve, reject) => {
    let last = null;
    lines.on('line', (line) => {
      try {
        const value = JSON.parse(line);
        if (value && value.ready === true) onReady();
        else last = value;
      } catch {
        /* not ours */
      }
    });
    child.once('exit', (code, signal) => {
      if (code === 0 && last) resolve(last);
      else reject(new Error(`load caller ended with ${signal ?? code}: ${logTail(logPath, 5)}`));
    });
  });
  result.catch(() => onReady()); // a dead caller must not hold the others at the gate
  return { child, ready, result, go: () => child.stdin.end('go\n') };
}

/** VmRSS and VmHWM of a live process, in KiB (null when it is gone). */
export function memoryKiB(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssKiB: field('VmRSS'), hwmKiB: field('VmHWM') };
  } catch {
    return null;
  }
}

let clockTicks;
/** User + system CPU seconds a process has used so far (null when it is gone). */
export function cpuSeconds(pid) {
  clockTicks ??= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / clockTicks;
  } catch {
    return null;
  }
}
