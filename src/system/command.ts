import { spawn } from 'node:child_process';
import { CommandError } from '../errors';

/** What a finished command printed and how it exited. */
export interface CommandResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CommandOptions {
  /** Kill the command (SIGKILL) after this many ms; default 60 000. */
  readonly timeoutMs?: number;
  /** Exit codes that are not failures (e.g. blkid's 2 = "nothing found"); default [0]. */
  readonly okExitCodes?: readonly number[];
  /** Kills the command (SIGKILL) when it fires, e.g. a backup aborted at agent shutdown. */
  readonly signal?: AbortSignal;
}

/**
 * Runs one external program from an argument array, never through a shell. Every system module
 * takes one, so tests can point it at real tools (loop devices) or at stand-in executables.
 */
export interface CommandRunner {
  /** Resolves with the captured output; rejects with CommandError (spawn failure, timeout, bad exit code). */
  run(command: string, args: readonly string[], options?: CommandOptions): Promise<CommandResult>;
}

/** Output beyond this is dropped: the commands we run print a few lines, a runaway one must not eat memory. */
const MAX_CAPTURE_BYTES = 1024 * 1024;

/** The real runner: child_process.spawn with shell: false and the C locale, so outputs parse the same everywhere. */
export function createCommandRunner(options: { env?: NodeJS.ProcessEnv; defaultTimeoutMs?: number } = {}): CommandRunner {
  const env = { ...(options.env ?? process.env), LC_ALL: 'C', LANG: 'C' };
  const defaultTimeoutMs = options.defaultTimeoutMs ?? 60_000;
  return {
    run(command, args, runOptions = {}) {
      const timeoutMs = runOptions.timeoutMs ?? defaultTimeoutMs;
      const okExitCodes = runOptions.okExitCodes ?? [0];
      return new Promise<CommandResult>((resolve, reject) => {
        const argv = [...args];
        const child = spawn(command, argv, { shell: false, env, stdio: ['ignore', 'pipe', 'pipe'] });
        const out = new Capture();
        const err = new Capture();
        child.stdout.on('data', (chunk: Buffer) => out.add(chunk));
        child.stderr.on('data', (chunk: Buffer) => err.add(chunk));
        let timedOut = false;
        const timer = setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, timeoutMs);
        const signal = runOptions.signal;
        const onAbort = (): void => void child.kill('SIGKILL');
        if (signal?.aborted) onAbort();
        else signal?.addEventListener('abort', onAbort, { once: true });
        const done = (): void => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        };
        const fail = (message: string, exitCode: number | null, cause?: unknown): void => {
          const details = { command, args: argv, exitCode, stderr: err.text(), timedOut };
          reject(new CommandError(message, details, cause === undefined ? {} : { cause }));
        };
        child.once('error', (cause) => {
          done();
          fail(`Could not run ${command}: ${cause.message}`, null, cause);
        });
        child.once('close', (code, killedBy) => {
          done();
          if (child.pid === undefined) return; // spawn failed: the 'error' handler has rejected already
          const stderr = err.text().trim();
          if (signal?.aborted) {
            fail(`${describe(command, argv)} was stopped: ${signal.reason instanceof Error ? signal.reason.message : 'aborted'}`, null, signal.reason);
          } else if (timedOut) {
            fail(`${describe(command, argv)} timed out after ${timeoutMs} ms`, null);
          } else if (code === null) {
            fail(`${describe(command, argv)} was killed by ${killedBy ?? 'a signal'}`, null);
          } else if (!okExitCodes.includes(code)) {
            fail(`${describe(command, argv)} exited with status ${code}${stderr ? `: ${lastLines(stderr)}` : ''}`, code);
          } else {
            resolve({ exitCode: code, stdout: out.text(), stderr: err.text() });
          }
        });
      });
    },
  };
}

class Capture {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  add(chunk: Buffer): void {
    if (this.size >= MAX_CAPTURE_BYTES) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
  }
  text(): string {
    return Buffer.concat(this.chunks).subarray(0, MAX_CAPTURE_BYTES).toString('utf8');
  }
}

function describe(command: string, args: readonly string[]): string {
  return [command, ...args].join(' ');
}

/** Operators read the message in Trove's fault: keep the end of stderr, where tools print the reason. */
function lastLines(text: string): string {
  return text.split('\n').slice(-3).join(' / ').slice(-400);
}
