import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command (argument array, no shell) and collects its output; never rejects on exit codes. */
export function run(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; logFile?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { env: options.env ?? process.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const log = options.logFile === undefined ? undefined : createWriteStream(options.logFile, { flags: 'a' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      if (log) log.write(chunk);
      else stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (log) log.write(chunk);
      else stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const done = (): void => resolve({ code: code ?? 1, stdout, stderr });
      if (log) log.end(done);
      else done();
    });
  });
}

/** Like run(), but throws with the output (or the log's tail) when the exit code is not 0. */
export async function runOk(command: string, args: readonly string[], options: Parameters<typeof run>[2] = {}): Promise<RunResult> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    const where = options.logFile === undefined ? `${result.stdout}\n${result.stderr}` : `see ${options.logFile}`;
    throw new Error(`${command} ${args.join(' ')} exited ${result.code}: ${where.slice(-4000)}`);
  }
  return result;
}
