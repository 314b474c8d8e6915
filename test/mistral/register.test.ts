/*
 * `k2hdkc-trove-mistral-register` against Debian's real Mistral 15 (no Keystone: `--no-auth`):
 * twice leaves one public workflow with troveclient's input; a malformed definition or a wrong
 * input is refused naming the file, and Mistral keeps the workflow it had; an unreachable Mistral
 * is named. Needs `npm run build` (it runs the shipped bin/ launcher, as an operator does).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import axios from 'axios';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/free-port';
import { startMistral, type MistralFixture } from './fixture';

const REPO = resolve(__dirname, '..', '..');
const BIN = join(REPO, 'bin', 'k2hdkc-trove-mistral-register');
const SHIPPED = join(REPO, 'datastore', 'mistral', 'trove.backup_create.yaml');
const TROVE = 'http://127.0.0.1:8779/v1.0/%(tenant_id)s';

interface Outcome { code: number; stdout: string; stderr: string }

async function register(args: readonly string[]): Promise<Outcome> {
  // No OS_* variables: --no-auth must not need them.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OS_')));
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], { env, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

interface Listed { name: string; scope: string; input: string; definition: string; id: string }

describe('k2hdkc-trove-mistral-register against Debian Mistral 15', () => {
  let mistral: MistralFixture;
  let dir: string;
  let failed = false;

  beforeAll(async () => {
    mistral = await startMistral();
    dir = await mkdtemp(join(tmpdir(), 'k2hdkc-mistral-reg-'));
  }, 240_000);

  afterAll(async () => {
    if (failed && mistral) process.stderr.write(`Mistral log:\n${mistral.logTail()}\n`);
    await mistral?.stop(failed);
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  const ours = async (): Promise<Listed[]> => {
    const res = await axios.get<{ workflows: Listed[] }>(`${mistral.url}/workflows`, { headers: { Accept: 'application/json' } });
    return res.data.workflows.filter((w) => w.name === 'trove.backup_create');
  };
  const check = (o: Outcome, code: number): void => {
    if (o.code !== code) failed = true;
    expect(o.code, `stdout: ${o.stdout}\nstderr: ${o.stderr}`).toBe(code);
  };

  it('creates the workflow public with troveclient\'s input, and a second run updates the same one', async () => {
    const first = await register(['--no-auth', '--mistral-url', mistral.url, '--trove-url', TROVE]);
    check(first, 0);
    expect(first.stdout).toMatch(/trove\.backup_create created in Mistral/);
    const [created, ...others] = await ours();
    expect(others).toEqual([]);
    expect(created!.scope).toBe('public');
    // Mistral renders a null default as "None" (Python's str).
    expect(created!.input).toBe('instance, name, description="None", incremental="None"');
    // Trove's endpoint is in, without the project (the workflow adds the trigger's own).
    expect(created!.definition).toContain("trove_api: 'http://127.0.0.1:8779/v1.0'");
    expect(created!.definition).not.toContain('@TROVE_API@');

    const second = await register(['--no-auth', '--mistral-url', mistral.url, '--trove-url', 'http://127.0.0.1:9999/v1.0']);
    check(second, 0);
    expect(second.stdout).toMatch(/trove\.backup_create updated/);
    const after = await ours();
    expect(after.map((w) => w.id)).toEqual([created!.id]);
    expect(after[0]!.definition).toContain("trove_api: 'http://127.0.0.1:9999/v1.0'");
  });

  it('refuses a malformed definition with Mistral\'s reason and the file, and keeps the workflow it had', async () => {
    const before = await ours();
    const broken = join(dir, 'broken.yaml');
    const text = await readFile(SHIPPED, 'utf8');
    // A task that goes to a task that does not exist: valid YAML, invalid workflow.
    await writeFile(broken, text.replace('on-success: create_backup', 'on-success: create_the_backup'));
    const out = await register(['--no-auth', '--mistral-url', mistral.url, '--trove-url', TROVE, '--workflow', broken]);
    check(out, 1);
    expect(out.stderr).toContain(broken);
    expect(out.stderr).toMatch(/create_the_backup/);
    expect(out.stderr).toMatch(/HTTP 400/);
    expect(await ours()).toEqual(before);
  });

  it('refuses a workflow whose input is not troveclient\'s, and puts the previous one back', async () => {
    const before = await ours();
    const wrong = join(dir, 'wrong-input.yaml');
    const text = await readFile(SHIPPED, 'utf8');
    await writeFile(wrong, text.replace('    - incremental: null\n', ''));
    const out = await register(['--no-auth', '--mistral-url', mistral.url, '--trove-url', TROVE, '--workflow', wrong]);
    check(out, 1);
    expect(out.stderr).toMatch(/takes \(instance, name, description="None"\).*fix its input/);
    expect(out.stderr).toContain(wrong);
    const after = await ours();
    expect(after.map((w) => [w.id, w.input, w.definition])).toEqual(before.map((w) => [w.id, w.input, w.definition]));
  });

  it('names an unreachable Mistral, and a file that is not ours to fill', async () => {
    const port = await freePort();
    const down = await register(['--no-auth', '--mistral-url', `http://127.0.0.1:${port}/v2`, '--trove-url', TROVE]);
    check(down, 1);
    expect(down.stderr).toContain(`Mistral at http://127.0.0.1:${port}/v2 cannot be reached`);
    const plain = join(dir, 'no-placeholder.yaml');
    await writeFile(plain, (await readFile(SHIPPED, 'utf8')).replace('@TROVE_API@', 'http://x/v1.0'));
    const out = await register(['--no-auth', '--mistral-url', mistral.url, '--trove-url', TROVE, '--workflow', plain]);
    check(out, 1);
    expect(out.stderr).toMatch(/must contain @TROVE_API@ exactly once/);
  });
});
