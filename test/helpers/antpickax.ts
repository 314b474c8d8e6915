import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';

// Which chmpx / k2hdkc / k2hlinetool / k2hdkclinetool the K2HDKC tests run: the spec stand-ins of
// test/doubles/chmpx/, or, with K2HDKC_TROVE_ANTPICKAX_BIN=<dir> (e.g. /usr/bin), the AntPickax
// programs installed there, so an operator can validate a release against the real daemons.

const STANDINS_DIR = path.resolve(__dirname, '../doubles/chmpx');

/** The directory of installed AntPickax programs, or undefined to use the stand-ins. */
export const ANTPICKAX_BIN: string | undefined = process.env.K2HDKC_TROVE_ANTPICKAX_BIN || undefined;

/** True when the tests run the real programs (skip checks of the stand-ins' own data format). */
export const REAL_ANTPICKAX = ANTPICKAX_BIN !== undefined;

export type AntpickaxProgram = 'chmpx' | 'k2hdkc' | 'k2hlinetool' | 'k2hdkclinetool';

/** The path of `program`: under K2HDKC_TROVE_ANTPICKAX_BIN when set, else the stand-in. */
export function antpickaxProgram(program: AntpickaxProgram): string {
  if (ANTPICKAX_BIN === undefined) return path.join(STANDINS_DIR, program);
  const file = path.join(ANTPICKAX_BIN, program);
  if (!existsSync(file)) throw new Error(`K2HDKC_TROVE_ANTPICKAX_BIN=${ANTPICKAX_BIN} has no ${program}`);
  return file;
}

/** Where chmpx keeps `<GROUP>-<CTLPORT>.chmpx` and `.k2h`: /var/lib/antpickax, else /tmp (as chmpx chooses). */
export function chmpxShmDir(): string {
  if (!REAL_ANTPICKAX && process.env.CHMPX_DOUBLE_SHM_DIR) return process.env.CHMPX_DOUBLE_SHM_DIR;
  return existsSync('/var/lib/antpickax') ? '/var/lib/antpickax' : '/tmp';
}

/** True when the mqueue file system is mounted, so chmpx's queues can be seen. */
export function mqueueVisible(): boolean {
  return existsSync('/dev/mqueue');
}

/** chmpx's files of `group` and `ctlport` in `dir`, .bup copies included. */
export function chmpxShmFiles(group: string, ctlport: number, dir = chmpxShmDir()): string[] {
  const stem = `${group}-${ctlport}.`;
  return readdirSync(dir).filter((n) => n.startsWith(stem) && /^(chmpx|k2h)(\.bup(\.\d+)?)?$/.test(n.slice(stem.length)));
}

/** The POSIX message queues of `group` (`/<GROUP>.<16 hex>`), as names in /dev/mqueue. */
export function groupQueues(group: string): string[] {
  if (!mqueueVisible()) return [];
  return readdirSync('/dev/mqueue').filter((n) => n.startsWith(`${group}.`) && /^[0-9a-f]{16}$/.test(n.slice(group.length + 1)));
}

/** Removes what chmpx daemons of `group` that a test killed left behind (files and queues). */
export function removeGroupLeftovers(group: string, ctlports: readonly number[], dir = chmpxShmDir()): void {
  for (const ctlport of ctlports) for (const f of chmpxShmFiles(group, ctlport, dir)) rmSync(path.join(dir, f), { force: true });
  for (const q of groupQueues(group)) rmSync(path.join('/dev/mqueue', q), { force: true });
}
