import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { waitFor } from './poll';

export const REPO_ROOT = path.resolve(__dirname, '../../..');
const AGENT_BIN = path.join(REPO_ROOT, 'bin', 'k2hdkc-trove-agent');

export interface AgentFiles {
  readonly dir: string;
  readonly guestAgentConf: string;
  readonly guestInfoConf: string;
  readonly stateDir: string;
  readonly mountPoint: string;
}

export interface AgentConfigOptions {
  readonly guestId: string;
  readonly tenantId: string;
  /** null: the controller runs with enable_secure_rpc_messaging=False, so no key line. */
  readonly key: string | null;
  readonly transportUrl: string;
  readonly controlExchange: string;
  readonly conductorQueue: string;
  readonly reportInterval?: number;
  readonly mountPoint?: string;
  /**
   * More `[k2hdkc]` lines (key → value). Without `datastore`, the core tests run the volume-only
   * base datastore: they test the RPC surface, not a K2HDKC node.
   */
  readonly k2hdkc?: Readonly<Record<string, string>>;
}

/**
 * Writes the two files Trove injects into a guest. guest_info.conf has the exact shape the
 * taskmanager renders (`key=value`, no key line without secure RPC; instance/models.py).
 */
export function writeAgentConfig(dir: string, o: AgentConfigOptions): AgentFiles {
  const stateDir = path.join(dir, 'state');
  const mountPoint = o.mountPoint ?? path.join(dir, 'data');
  mkdirSync(stateDir, { recursive: true });
  const guestInfoConf = path.join(dir, 'guest_info.conf');
  const guestAgentConf = path.join(dir, 'trove-guestagent.conf');
  let info = `[DEFAULT]\nguest_id=${o.guestId}\ndatastore_manager=k2hdkc\ndatastore_version=1.0.14\ntenant_id=${o.tenantId}\n`;
  if (o.key !== null) info += `instance_rpc_encr_key=${o.key}\n`;
  writeFileSync(guestInfoConf, info, { mode: 0o600 });
  const conf = [
    '[DEFAULT]',
    `transport_url = ${o.transportUrl}`,
    `control_exchange = ${o.controlExchange}`,
    `conductor_queue = ${o.conductorQueue}`,
    `report_interval = ${o.reportInterval ?? 2}`,
    'debug = false',
    '[oslo_messaging_rabbit]',
    'amqp_durable_queues = false',
    'amqp_auto_delete = false',
    '[k2hdkc]',
    `state_dir = ${stateDir}`,
    `mount_point = ${mountPoint}`,
    'device_path = /dev/null-conformance',
    'http_port = 0',
    'log_level = debug',
    'shutdown_grace_seconds = 5',
    ...Object.entries({ datastore: 'base', ...o.k2hdkc }).map(([key, value]) => `${key} = ${value}`),
    '',
  ].join('\n');
  writeFileSync(guestAgentConf, conf, { mode: 0o600 });
  return { dir, guestAgentConf, guestInfoConf, stateDir, mountPoint };
}

/** One JSON log line of the agent (pino). */
export type LogLine = Readonly<Record<string, unknown>>;

/** The real agent as a child process: `node bin/k2hdkc-trove-agent --config-file ...`. */
export class AgentProcess {
  readonly lines: LogLine[] = [];
  /** Lines on stdout that were not JSON (should stay empty). */
  readonly rawLines: string[] = [];
  private readonly proc: ChildProcess;
  private readonly logFile: WriteStream;
  private exitCode: number | null | undefined;
  private readonly exited: Promise<number | null>;

  /** `wrap`: runs the agent through another command (e.g. inside a node's network namespace). */
  constructor(readonly files: AgentFiles, wrap?: (command: string, args: string[]) => { command: string; args: string[] }) {
    this.logFile = createWriteStream(path.join(files.dir, 'agent.log'), { flags: 'a' });
    const plain = { command: process.execPath, args: [AGENT_BIN, '--config-file', files.guestAgentConf, '--config-file', files.guestInfoConf] };
    const { command, args } = wrap === undefined ? plain : wrap(plain.command, plain.args);
    this.proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO_ROOT });
    const stdout = this.proc.stdout;
    const stderr = this.proc.stderr;
    if (stdout === null || stderr === null) throw new Error('agent spawned without pipes');
    createInterface({ input: stdout }).on('line', (line) => {
      this.logFile.write(`${line}\n`);
      try {
        this.lines.push(JSON.parse(line) as LogLine);
      } catch {
        this.rawLines.push(line);
      }
    });
    stderr.on('data', (chunk: Buffer) => this.logFile.write(chunk));
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code) => {
        this.exitCode = code;
        resolve(code);
      });
    });
  }

  get pid(): number {
    if (this.proc.pid === undefined) throw new Error('agent has no pid');
    return this.proc.pid;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** Resident set size from /proc/<pid>/status, in KiB. */
  rssKiB(): number {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
    if (match?.[1] === undefined) throw new Error('VmRSS not found');
    return Number(match[1]);
  }

  /**
   * The lowest RSS over `windowMs` of idleness: what the agent retains once V8's idle-time
   * collection has run, rather than a snapshot of garbage not yet collected.
   */
  async settledRssKiB(windowMs = 3000): Promise<number> {
    let lowest = this.rssKiB();
    for (const end = Date.now() + windowMs; Date.now() < end;) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      lowest = Math.min(lowest, this.rssKiB());
    }
    return lowest;
  }

  /** Waits for a log line matching `predicate` (already seen lines count). */
  waitForLog(what: string, predicate: (line: LogLine) => boolean, timeoutMs = 20_000): Promise<LogLine> {
    return waitFor(`agent log: ${what}`, () => {
      if (!this.running) throw new Error(`agent exited with ${String(this.exitCode)}; see ${this.files.dir}/agent.log`);
      return this.lines.find(predicate);
    }, { timeoutMs });
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  async stop(graceMs = 10_000): Promise<number | null> {
    if (this.running) {
      this.proc.kill('SIGTERM');
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    await new Promise<void>((resolve) => this.logFile.end(resolve));
    return this.exitCode ?? null;
  }
}
