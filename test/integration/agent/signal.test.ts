import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../helpers/free-port';

/**
 * The launcher as `npm start` runs it (built dist/, as `npm test` builds first) on the sample
 * configuration, with nothing listening at the broker's address: a user who starts the agent
 * before RabbitMQ must still be able to stop it.
 */

const ROOT = join(__dirname, '..', '..', '..');
const BIN = join(ROOT, 'bin', 'k2hdkc-trove-agent');

let child: ChildProcess | undefined;
let dir: string | undefined;
afterEach(() => {
  if (child?.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  child = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('bin/k2hdkc-trove-agent', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('stops on %s while it still waits for the broker, exit 0', async (signal) => {
    dir = mkdtempSync(join(tmpdir(), 'agent-signal-'));
    const local = join(dir, 'local.conf');
    writeFileSync(local, `[DEFAULT]\ntransport_url = rabbit://guest:guest@127.0.0.1:${await freePort()}/\n[k2hdkc]\nhttp_port = 0\nstate_dir = ${dir}/state\nmount_point = ${dir}/data\n`);
    const config = ['config/trove-guestagent.conf', 'config/guest_info.conf'].flatMap((f) => ['--config-file', join(ROOT, f)]);
    const proc = spawn(process.execPath, [BIN, ...config, '--config-file', local], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    let out = '';
    proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    const deadline = Date.now() + 15_000;
    while (!out.includes('cannot connect to the broker; retrying')) {
      if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`the agent never tried the broker:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    proc.kill(signal);
    const code = await Promise.race([exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), 5_000))]);
    expect(code, out).toBe(0);
    const messages = out.trim().split('\n').map((l) => (JSON.parse(l) as { msg?: string }).msg);
    expect(messages).toEqual(expect.arrayContaining(['signal received', 'agent stopped']));
  });
});
