import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import axios from 'axios';
import type { SwiftFixture } from '../../swift/fixture';
import { antpickaxProgram } from '../../helpers/antpickax';

/** The k2hlinetool stand-in, or the installed one with K2HDKC_TROVE_ANTPICKAX_BIN. */
export const K2HLINETOOL = antpickaxProgram('k2hlinetool');

/** Runs a command (argument array) with optional stdin; rejects on a non-zero exit. */
export async function runCommand(cmd: string, args: string[], opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Buffer> {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env, cwd: opts.cwd });
  const out: Buffer[] = [];
  let err = '';
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  // A command that never reads stdin (find, dd) may close it first; the exit code tells the result.
  child.stdin.on('error', () => undefined);
  child.stdin.end(opts.input ?? '');
  const [code] = (await once(child, 'close')) as [number | null];
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err}`);
  return Buffer.concat(out);
}

/** The k2hlinetool stand-in's online archive: `ar put <dir>/trovebackup.k2har`, then `quit`. */
export async function archiveWithStandin(k2hfile: string, dir: string): Promise<void> {
  await runCommand(K2HLINETOOL, ['-f', k2hfile, '-ro'], { input: `ar put ${join(dir, 'trovebackup.k2har')}\nquit\n` });
}

/** Writes keys into a stand-in data file. */
export async function fillStandin(k2hfile: string, entries: Record<string, string>): Promise<void> {
  const lines = Object.entries(entries).map(([k, v]) => `set ${k} ${v}`);
  await runCommand(K2HLINETOOL, ['-f', k2hfile], { input: `${lines.join('\n')}\nquit\n` });
}

/**
 * The values of `keys` in a k2hash data file (`print`, read-only), null when absent. Both
 * k2hlinetools print `"<key>" => "<value>"` (the real one indented as `  +"<key>" => ...`), so
 * the match is not anchored; the stand-in's own file format is never read.
 */
export async function readKeys(k2hfile: string, keys: readonly string[]): Promise<Record<string, string | null>> {
  const out = (await runCommand(K2HLINETOOL, ['-f', k2hfile, '-ro'], { input: `${keys.map((k) => `print ${k}`).join('\n')}\nquit\n` })).toString('utf8');
  return Object.fromEntries(keys.map((k) => [k, new RegExp(`"${k}" => "(.*)"`).exec(out)?.[1] ?? null]));
}

/** Object names in a container (plain listing), or [] when the container does not exist. */
export async function listObjects(swift: SwiftFixture, container: string): Promise<string[]> {
  const res = await axios.get<string>(`${swift.url}/${container}?format=plain`, {
    headers: { 'X-Auth-Token': swift.token, Accept: 'text/plain' }, responseType: 'text', validateStatus: () => true,
  });
  if (res.status === 404) return [];
  if (res.status !== 200 && res.status !== 204) throw new Error(`listing ${container}: HTTP ${res.status}`);
  return String(res.data).split('\n').filter((l) => l !== '');
}
