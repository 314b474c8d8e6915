import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from '../../log';
import { parseIni } from '../ini/parse';

/**
 * What a crashed chmpx leaves on the host (k2hdkc-observed.md "Stopping"; chmpx lib/chmimdata.cc,
 * lib/chmeventmq.cc): its shared memory `<dir>/<GROUP>-<CTLPORT>.chmpx` and `.k2h`, renamed to
 * `*.bup`, `*.bup.0`, ... by each later start, and its POSIX message queues `/<GROUP>.<16 hex>`.
 * chmpx removes them itself on a clean exit, so whatever is there while no chmpx of the node runs
 * is garbage; left alone it piles up at every restart, resize and upgrade.
 */
export interface LeftoverPlaces {
  /** chmpx's fixed /var/lib/antpickax, or /tmp when that is missing (as chmpx chooses); tests move it. */
  readonly shmDir?: string;
  /** Where the mqueue file system is mounted; default /dev/mqueue. */
  readonly mqueueDir?: string;
}

/** The names chmpx derives its files and queues from. */
export interface ChmpxIdentity {
  readonly group: string;
  readonly ctlport: number;
}

export const CHMPX_SHM_DIR = '/var/lib/antpickax';
const FALLBACK_SHM_DIR = '/tmp';
const DEFAULT_MQUEUE_DIR = '/dev/mqueue';
const QUEUE_SUFFIX = /^\.[0-9a-f]{16}$/;

/** GROUP and this node's control port (SELFCTLPORT, else CTLPORT, else the entry of SELFCUK) from the INI; undefined when unknown. */
export function chmpxIdentity(iniText: string): ChmpxIdentity | undefined {
  const ini = parseIni(iniText);
  const g = ini.global;
  if (g?.group === undefined || g.group === '') return undefined;
  let ctlport = g.selfCtlport ?? g.ctlport;
  if (ctlport === undefined && g.selfCuk !== undefined) {
    ctlport = [...ini.servers, ...ini.slaves].find((n) => n.cuk === g.selfCuk)?.ctlport;
  }
  return ctlport === undefined ? undefined : { group: g.group, ctlport };
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await fs.stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** The directory chmpx uses: the given one, else /var/lib/antpickax, else /tmp. */
export async function resolveShmDir(shmDir?: string): Promise<string> {
  if (shmDir !== undefined) return shmDir;
  return (await isDirectory(CHMPX_SHM_DIR)) ? CHMPX_SHM_DIR : FALLBACK_SHM_DIR;
}

/** `<GROUP>-<CTLPORT>.chmpx` / `.k2h` and their `.bup`, `.bup.N` copies in `names`. */
export function isChmpxShmFile(name: string, id: ChmpxIdentity): boolean {
  const stem = `${id.group}-${id.ctlport}`;
  return [`${stem}.chmpx`, `${stem}.k2h`].some((file) => name === file || new RegExp(`^${escape(file)}\\.bup(\\.\\d+)?$`).test(name));
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Files and queues live processes hold: /proc/<pid>/fd targets and /proc/<pid>/maps paths (chmpx
 * maps its shared memory). mq_open descriptors read "/<name>", ones opened through the mount
 * "<mount>/<name>"; both are returned as they read.
 */
async function pathsInUse(): Promise<Set<string>> {
  const held = new Set<string>();
  const pids = (await fs.readdir('/proc').catch(() => [] as string[])).filter((p) => /^\d+$/.test(p));
  for (const pid of pids) {
    const fds = await fs.readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const target = await fs.readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      if (target.startsWith('/')) held.add(target.replace(/ \(deleted\)$/, ''));
    }
    const maps = await fs.readFile(`/proc/${pid}/maps`, 'utf8').catch(() => '');
    for (const line of maps.split('\n')) {
      const at = line.indexOf(' /');
      if (at >= 0) held.add(line.slice(at + 1).trim());
    }
  }
  return held;
}

/**
 * Removes the leftovers of the chmpx `id` names. Call it only while that chmpx is not running.
 * Files and queues a live process still holds (another node of the same cluster on this host,
 * or a client) are kept. Logs one line when something was removed; never throws.
 */
export async function removeChmpxLeftovers(id: ChmpxIdentity, places: LeftoverPlaces, log: Logger): Promise<{ files: string[]; queues: string[] }> {
  const shmDir = await resolveShmDir(places.shmDir);
  const mqueueDir = places.mqueueDir ?? DEFAULT_MQUEUE_DIR;
  const candidates = (await fs.readdir(shmDir).catch(() => [] as string[])).filter((name) => isChmpxShmFile(name, id)).sort();
  const queueNames = (await fs.readdir(mqueueDir).catch(() => [] as string[]))
    .filter((n) => n.startsWith(`${id.group}.`) && QUEUE_SUFFIX.test(n.slice(id.group.length)));
  if (candidates.length === 0 && queueNames.length === 0) return { files: [], queues: [] };
  const held = await pathsInUse();
  const files: string[] = [];
  for (const name of candidates) {
    const path = join(shmDir, name);
    // Another node of the group on this host (tests) may use the same names: keep what is in use.
    if (held.has(path)) continue;
    try {
      await fs.rm(path, { force: true });
      files.push(path);
    } catch (err) {
      log.warn({ path, err: (err as Error).message }, 'could not remove a leftover chmpx file');
    }
  }
  const queues: string[] = [];
  for (const name of queueNames) {
    if (held.has(`/${name}`) || held.has(join(mqueueDir, name))) continue;
    try {
      await fs.unlink(join(mqueueDir, name));
      queues.push(`/${name}`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ queue: name, err: (err as Error).message }, 'could not remove a leftover chmpx message queue');
    }
  }
  if (files.length > 0 || queues.length > 0) {
    log.warn({ group: id.group, ctlport: id.ctlport, files, queues }, 'removed what an earlier chmpx left behind (a crash, or a kill)');
  }
  return { files, queues };
}

/** removeChmpxLeftovers for the node the INI at `iniPath` describes; nothing when it cannot be read. */
export async function removeLeftoversFor(iniPath: string, places: LeftoverPlaces, log: Logger): Promise<void> {
  const text = await fs.readFile(iniPath, 'utf8').catch(() => undefined);
  const id = text === undefined ? undefined : chmpxIdentity(text);
  if (id === undefined) return;
  await removeChmpxLeftovers(id, places, log);
}

/**
 * Creates the directory of [K2HDKC] K2HFILE (mode 0750) when missing: k2hdkc creates its data
 * file but not the directory (k2hdkc-observed.md "Files"; the packaged helper script did it).
 */
export async function ensureDataFileDir(iniPath: string, log: Logger): Promise<void> {
  const text = await fs.readFile(iniPath, 'utf8').catch(() => undefined);
  const file = text === undefined ? undefined : parseIni(text).k2hdkc?.k2hFile;
  if (file === undefined || !file.startsWith('/')) return;
  const dir = dirname(file);
  if (await isDirectory(dir)) return;
  await fs.mkdir(dir, { recursive: true, mode: 0o750 });
  log.info({ dir }, 'created the directory of K2HFILE (k2hdkc does not)');
}
