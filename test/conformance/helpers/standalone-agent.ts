import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { REPO_ROOT } from './agent-process';

/** The agent in standalone mode (no Trove, no RabbitMQ): `k2hdkc-trove-agent --standalone`. */
export class StandaloneAgent {
  readonly lines: Record<string, unknown>[] = [];
  private readonly proc: ChildProcess;
  private readonly exited: Promise<number | null>;

  /** `launch`: the command line of `node AGENT_BIN ...` as it runs on the node (env.inNode). */
  constructor(launch: { command: string; args: string[] }, logFile: string) {
    const out = createWriteStream(logFile, { flags: 'a' });
    this.proc = spawn(launch.command, launch.args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO_ROOT });
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      out.write(`${line}\n`);
      try {
        this.lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not JSON: kept in the file only
      }
    });
    this.proc.stderr!.on('data', (chunk: Buffer) => out.write(chunk));
    this.exited = new Promise((resolve) => this.proc.on('exit', (code) => resolve(code)));
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** SIGTERM, then SIGKILL after 10 s. */
  async stop(): Promise<number | null> {
    if (!this.running) return this.exited;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}
