import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TroveApiDouble } from '../../doubles/trove-api/server';

/** The installed launcher (built dist/, as `npm test` builds first) against the double: start, fire, SIGTERM. */

const ROOT = join(__dirname, '..', '..', '..');
const BIN = join(ROOT, 'bin', 'k2hdkc-trove-scheduler');
const PROJECT = 'f0e1d2c3b4a5968778695a4b3c2d1e0f';
const INSTANCE = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
const SECRET = 'bin-test-SECRET-55aa';

let double: TroveApiDouble | undefined;
afterEach(async () => {
  await double?.stop();
  double = undefined;
});

function run(args: string[]): { done: Promise<number | null>; out: () => string; err: () => string; kill: () => void } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { done, out: () => out, err: () => err, kill: () => void child.kill('SIGTERM') };
}

describe.skipIf(!existsSync(join(ROOT, 'dist', 'src', 'scheduler', 'main.js')))('bin/k2hdkc-trove-scheduler', () => {
  it('creates a backup on an every-second schedule and exits 0 on SIGTERM without logging the secret', async () => {
    double = new TroveApiDouble({ projectId: PROJECT, appCredId: 'bin-cred', appCredSecret: SECRET, finishOnShow: 'COMPLETED' });
    double.state.addInstance(INSTANCE, PROJECT);
    const base = await double.start();
    const dir = mkdtempSync(join(tmpdir(), 'sched-bin-'));
    const file = join(dir, 'scheduler.conf');
    writeFileSync(
      file,
      `[DEFAULT]\ndebug = true\npoll_interval = 1\n[keystone]\nauth_url = ${base}\napplication_credential_id = bin-cred\n` +
        `application_credential_secret = ${SECRET}\n[schedule:every-second]\ninstance_id = ${INSTANCE}\ncron = * * * * * *\nkeep_last = 1\n`,
    );
    const p = run(['--config-file', file]);
    while (!double.state.backups.some((b) => b.status === 'COMPLETED')) await new Promise((r) => setTimeout(r, 50));
    p.kill();
    expect(await p.done).toBe(0);
    const lines = p.out().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l['msg'])).toEqual(expect.arrayContaining(['scheduler started', 'backup requested', 'backup completed', 'scheduler stopped']));
    expect(p.out() + p.err()).not.toContain(SECRET);
    expect(double.state.backups[0]).toMatchObject({ description: 'k2hdkc-trove-scheduler schedule=every-second', instanceId: INSTANCE });
  });

  it('exits 78 with the file, line and key of a bad configuration', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sched-bin-'));
    const file = join(dir, 'scheduler.conf');
    writeFileSync(file, `[keystone]\nauth_url = http://x:5000\napplication_credential_id = i\napplication_credential_secret = s\n[schedule:a]\ninstance_id = ${INSTANCE}\ncron = nope\nkeep_last = 1\n`);
    const p = run(['--config-file', file]);
    expect(await p.done).toBe(78);
    expect(p.err()).toContain(`${file}:7: [schedule:a] cron is not a valid cron expression: 'nope'`);
  });
});
