import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Debian's interpreter: python3-trove is installed there (scripts/setup-test-env.sh). */
export const SYSTEM_PYTHON = '/usr/bin/python3';
export const REPO = path.resolve(__dirname, '../..');
export const DATASTORE = path.join(REPO, 'datastore');
export const INSTALLER = path.join(DATASTORE, 'install.py');
const PROBE = path.join(__dirname, 'bridge_probe.py');

export interface RunResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

// `python3 -m` puts the working directory on sys.path: run in an empty one of our own, so
// neither the source tree nor stray files in /tmp can shadow a module.
let emptyCwd: string | undefined;

/** Runs Debian's python3 with an argument array (never a shell string). */
export function runPython(args: readonly string[], env: Record<string, string> = {}, cwd?: string): RunResult {
  emptyCwd ??= tempDir('cwd');
  const result = spawnSync(SYSTEM_PYTHON, args, {
    cwd: cwd ?? emptyCwd,
    env: pythonEnv(env),
    encoding: 'utf8',
    timeout: 50_000,
  });
  return { status: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

export function runCommand(file: string, args: readonly string[]): RunResult {
  const result = spawnSync(file, args, { encoding: 'utf8', timeout: 50_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8' } });
  return { status: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

function pythonEnv(env: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? tmpdir(), LANG: 'C.UTF-8', PYTHONDONTWRITEBYTECODE: '1', ...env };
}

/** runPython without blocking, so independent Trove start-ups (~2 s each) can overlap. */
export function runPythonAsync(args: readonly string[], env: Record<string, string> = {}): Promise<RunResult> {
  emptyCwd ??= tempDir('cwd');
  const cwd = emptyCwd;
  return new Promise((resolve) => {
    execFile(SYSTEM_PYTHON, [...args], { cwd, env: pythonEnv(env), encoding: 'utf8', timeout: 50_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const status = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
      resolve({ status, stdout, stderr });
    });
  });
}

/** bridge_probe.py's answer (its last stdout line). Throws with the Python trace on failure. */
export function probe<T>(command: string, args: readonly string[], site: string): T {
  return probeAnswer<T>(command, runPython([PROBE, command, ...args], { PYTHONPATH: site }));
}

export async function probeAsync<T>(command: string, args: readonly string[], site: string): Promise<T> {
  return probeAnswer<T>(command, await runPythonAsync([PROBE, command, ...args], { PYTHONPATH: site }));
}

function probeAnswer<T>(command: string, result: RunResult): T {
  const last = result.stdout.trim().split('\n').pop() ?? '';
  let answer: { ok: boolean; value?: T; error?: { class: string; message: string }; trace?: string };
  try {
    answer = JSON.parse(last) as typeof answer;
  } catch {
    throw new Error(`probe ${command} printed no JSON (status ${result.status}): ${result.stderr.slice(-2000)}`);
  }
  if (!answer.ok) throw new Error(`probe ${command} failed: ${answer.trace ?? JSON.stringify(answer.error)}`);
  return answer.value as T;
}

/** cluster_probe.py (imported by name: trove.conf points remote_nova_client at it). */
export function clusterProbe<T>(conf: string, site: string): T {
  const result = runPython([path.join(__dirname, 'cluster_probe.py'), conf], { PYTHONPATH: `${site}:${__dirname}` });
  const last = result.stdout.trim().split('\n').pop() ?? '';
  let answer: { ok: boolean; value?: T; trace?: string };
  try {
    answer = JSON.parse(last) as typeof answer;
  } catch {
    throw new Error(`cluster_probe printed no JSON (status ${result.status}): ${result.stderr.slice(-2000)}`);
  }
  if (!answer.ok) throw new Error(`cluster_probe failed: ${answer.trace}`);
  return answer.value as T;
}

const created: string[] = [];

export function tempDir(label: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `k2hdkc-ds-${label}-`));
  created.push(dir);
  return dir;
}

/** Removes every directory tempDir() made in this test file (afterAll). */
export function removeTempDirs(): void {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
  emptyCwd = undefined;
}

/** datastore/install.py --target <site> plus extra arguments; throws unless it succeeds. */
export function installBridge(site: string, extra: readonly string[] = []): RunResult {
  const result = runPython([INSTALLER, '--target', site, ...extra]);
  if (result.status !== 0) throw new Error(`install.py failed: ${result.stderr}`);
  return result;
}

/** A trove.conf with the given lines; the fake oslo.messaging transport touches no broker. */
export function writeTroveConf(file: string, lines: readonly string[]): string {
  writeFileSync(file, ['[DEFAULT]', 'transport_url = fake://', ...lines, ''].join('\n'), { mode: 0o600 });
  return file;
}

export interface Manifest {
  datastore: { name: string; manager: string; default_version: string };
  versions: { name: string; version: string; image_id: string; image_tags: string[]; packages: string[]; active: boolean }[];
  options: Record<string, unknown> & { tcp_ports: string[]; udp_ports: string[] };
  notification_service_id?: string;
  configuration: { validation_rules: string; config_template: string; value_column_length: number };
}

export function readManifest(): Manifest {
  return JSON.parse(readFileSync(path.join(DATASTORE, 'manifest.json'), 'utf8')) as Manifest;
}

export interface Rule {
  name: string;
  restart_required: boolean;
  type: string;
  min?: number;
  max?: number;
}

export function readRules(): Rule[] {
  const manifest = readManifest();
  const data = JSON.parse(readFileSync(path.join(DATASTORE, manifest.configuration.validation_rules), 'utf8')) as { 'configuration-parameters': Rule[] };
  return data['configuration-parameters'];
}

/** The element at `index`, or a thrown error naming what was missing. */
export function at<T>(items: readonly T[], index: number, what: string): T {
  const item = items[index];
  if (item === undefined) throw new Error(`no ${what} at index ${index}`);
  return item;
}

/** Port strings of the manifest ("8020" or "9000-9010") as [first, last]. */
export function portRanges(ports: readonly string[]): [number, number][] {
  return ports.map((p) => {
    const [a, b] = p.split('-').map(Number);
    return [a, b ?? a] as [number, number];
  });
}
