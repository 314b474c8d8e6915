import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { APPLY_ELEMENTS, CACHE_DIR, GUEST_IMAGE } from './paths';
import { runOk } from './run';

/**
 * A Debian root with the guest elements applied, built once and kept under CACHE_DIR/<key>/root.
 * The key covers everything that shapes it: debootstrap parameters, the element settings, and
 * the bytes of every element file, unit and the element runner. The agent itself is not in the
 * key: each test run refreshes it in an overlay (see overlay.ts), so a src/ change costs seconds.
 */
export interface RootSpec {
  suite: string;
  variant: string;
  mirror: string;
  /** Element settings for the cached build (AntPickax off: packagecloud is unreachable in CI). */
  env: Record<string, string>;
}

/**
 * Debian 13 (trixie) by default: its nodejs package is 20.19, what the agent needs
 * (package.json engines >=20). Debian 12's is 18.19, so a bookworm guest takes Node from
 * NodeSource, which CI cannot reach.
 */
export function defaultRootSpec(): RootSpec {
  return {
    suite: process.env['K2HDKC_IMAGE_TEST_SUITE'] ?? 'trixie',
    variant: 'minbase',
    mirror: process.env['K2HDKC_IMAGE_TEST_MIRROR'] ?? configuredDebianMirror(),
    env: { K2HDKC_ANTPICKAX: '0', K2HDKC_NODE_SOURCE: 'distro', K2HDKC_GUEST_USER: 'ubuntu' },
  };
}

/** The first Debian archive URI in /etc/apt/sources.list{,.d/*} (one-line or deb822 form). */
export function configuredDebianMirror(): string {
  const files = ['/etc/apt/sources.list'];
  if (existsSync('/etc/apt/sources.list.d')) {
    for (const name of readdirSync('/etc/apt/sources.list.d').sort()) files.push(join('/etc/apt/sources.list.d', name));
  }
  for (const file of files) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const match = /^\s*(?:deb\s+(?:\[[^\]]*\]\s+)?|URIs:\s*)(\S+)/.exec(line);
      const uri = match?.[1];
      if (uri !== undefined && /\/debian\/?$/.test(uri)) return uri;
    }
  }
  return 'http://deb.debian.org/debian';
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path));
    else out.push(path);
  }
  return out;
}

/** sha256 over the spec and the content (and mode) of every input file. */
export function rootKey(spec: RootSpec, dibElementsDir: string): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify(spec));
  const inputs = [
    ...filesUnder(join(GUEST_IMAGE, 'elements')),
    ...filesUnder(join(GUEST_IMAGE, 'systemd')),
    APPLY_ELEMENTS,
    ...filesUnder(join(dibElementsDir, 'cloud-init-datasources')),
  ];
  for (const file of inputs) {
    hash.update(`${relative(GUEST_IMAGE, file)}\0${statSync(file).mode & 0o111}\0`);
    hash.update(readFileSync(file));
  }
  return hash.digest('hex').slice(0, 16);
}

export async function dibElementsDir(): Promise<string> {
  const { stdout } = await runOk('/usr/bin/python3', ['-c', 'import diskimage_builder, os; print(os.path.join(os.path.dirname(diskimage_builder.__file__), "elements"))']);
  return stdout.trim();
}

/** The cached root for this spec, built now (debootstrap + all elements) when missing. */
export async function ensureCachedRoot(spec: RootSpec, agent: { tarball: string; lockfile: string }, log: (line: string) => void): Promise<{ root: string; built: boolean }> {
  const key = rootKey(spec, await dibElementsDir());
  const entry = join(CACHE_DIR, key);
  if (existsSync(join(entry, 'complete'))) return { root: join(entry, 'root'), built: false };

  mkdirSync(CACHE_DIR, { recursive: true });
  const building = join(CACHE_DIR, `${key}.building-${process.pid}`);
  rmSync(building, { recursive: true, force: true });
  mkdirSync(building);
  const logFile = join(building, 'build.log');
  log(`building cached root ${key} (${spec.suite} ${spec.variant} from ${spec.mirror}); log: ${logFile}`);
  const debs = join(CACHE_DIR, 'debootstrap-debs');
  mkdirSync(debs, { recursive: true });
  await runOk('debootstrap', [`--variant=${spec.variant}`, `--cache-dir=${debs}`, spec.suite, join(building, 'root'), spec.mirror], { logFile });
  await runOk(APPLY_ELEMENTS, ['--root', join(building, 'root'), 'k2hdkc-trove-guest'], {
    env: { ...process.env, ...spec.env, K2HDKC_AGENT_TARBALL: agent.tarball, K2HDKC_AGENT_LOCKFILE: agent.lockfile, K2HDKC_UNIT_DIR: join(GUEST_IMAGE, 'systemd') },
    logFile,
  });
  // Downloaded packages are not part of the root's state; keep the cache small.
  await runOk('chroot', [join(building, 'root'), 'apt-get', 'clean'], { logFile });
  writeFileSync(join(building, 'complete'), `${new Date().toISOString()}\n`);
  rmSync(entry, { recursive: true, force: true });
  renameSync(building, entry);
  pruneOthers(key);
  return { root: join(entry, 'root'), built: true };
}

/** Old keys (element changes) would pile up: keep only the current one. */
function pruneOthers(keep: string): void {
  for (const name of readdirSync(CACHE_DIR)) {
    if (name === keep || name === 'debootstrap-debs') continue;
    rmSync(join(CACHE_DIR, name), { recursive: true, force: true });
  }
}
