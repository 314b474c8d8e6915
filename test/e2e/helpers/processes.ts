import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { once } from 'node:events';

/**
 * Child processes of the e2e control plane. Each one leads its own process group (detached), so
 * stopping it also ends what it started (trove-api workers, chmpx/k2hdkc stand-ins of an agent).
 * Output goes to a log file in the run's temp directory.
 */
export interface Managed {
  readonly name: string;
  readonly logPath: string;
  readonly child: ChildProcess;
  exitCode(): number | null | undefined;
}

const all = new Set<Managed>();

export function startProcess(name: string, command: string, args: readonly string[], options: {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly logPath: string;
}): Managed {
  const log = createWriteStream(options.logPath, { flags: 'a', mode: 0o600 });
  const child = spawn(command, [...args], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  let code: number | null | undefined;
  child.on('exit', (c, signal) => {
    code = c ?? (signal === null ? null : -1);
    log.write(`\n[e2e] ${name} exited (code ${String(c)}, signal ${String(signal)})\n`);
  });
  child.on('error', (error) => log.write(`\n[e2e] ${name} could not start: ${error.message}\n`));
  const managed: Managed = { name, logPath: options.logPath, child, exitCode: () => code };
  all.add(managed);
  return managed;
}

/** SIGTERM to the whole group, SIGKILL after `graceMs`. */
export async function stopProcess(managed: Managed, graceMs = 5000): Promise<void> {
  all.delete(managed);
  const pid = managed.child.pid;
  if (pid === undefined) return;
  const exited = managed.exitCode() !== undefined ? Promise.resolve() : once(managed.child, 'exit').then(() => undefined);
  const queues = queuesHeldByGroup(pid);
  signalGroup(pid, 'SIGTERM');
  const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
  // Whatever the leader left behind in its group goes too.
  signalGroup(pid, 'SIGKILL');
  // A chmpx killed here (a VM powered off with its node up) leaves its POSIX message queues,
  // and they count against root's RLIMIT_MSGQUEUE for every later test: remove them, as a
  // reboot would.
  for (const queue of queues) rmSync(queue, { force: true });
}

/** The /dev/mqueue entries that processes of group `pgid` hold open. */
function queuesHeldByGroup(pgid: number): string[] {
  const held = new Set<string>();
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      // Field 5 of /proc/<pid>/stat is the process group; the command name before it may hold spaces.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) !== pgid) continue;
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        // mq_open descriptors read "/<name>", ones opened through the mount "/dev/mqueue/<name>".
        const name = target.startsWith('/dev/mqueue/') ? target.slice('/dev/mqueue/'.length) : /^\/[^/]+$/.test(target) ? target.slice(1) : null;
        if (name !== null && existsSync(`/dev/mqueue/${name}`)) held.add(`/dev/mqueue/${name}`);
      }
    } catch {
      // the process ended meanwhile
    }
  }
  return [...held];
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is gone already
  }
}

/** Every process still running (for afterAll). */
export async function stopAll(): Promise<void> {
  await Promise.all([...all].map((m) => stopProcess(m, 3000)));
}

/** The last `bytes` of a log file, for failure reports. */
export function tail(path: string, bytes = 6000): string {
  if (!existsSync(path)) return `(no ${path})`;
  const text = readFileSync(path, 'utf8');
  return text.length > bytes ? `...${text.slice(-bytes)}` : text;
}
