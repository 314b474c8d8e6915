import { promises as fs } from 'node:fs';
import { BackupError } from '../errors';
import { parseIni } from '../k2hdkc/ini/parse';
import type { ChmpxIni } from '../k2hdkc/ini/model';

/**
 * This node's k2hash data file and the geometry a new file must be created with, from the INI's
 * [K2HDKC] (spec k2hr3-chmpx-k2hdkc.md §3.3 restore: K2HFILE, K2HMASKBIT, K2HCMASKBIT, K2HMAXELE,
 * K2HPAGESIZE, K2HFULLMAP).
 */
export interface K2hDataFile {
  readonly path: string;
  readonly maskBits: number | undefined;
  readonly cmaskBits: number | undefined;
  readonly maxElements: number | undefined;
  readonly pageSize: number | undefined;
  readonly fullMap: boolean;
}

/** k2hdkc's default when K2HFILE is absent, as the old integration assumed. */
export const DEFAULT_K2HFILE = '/var/lib/antpickax/k2hdkc/k2hdkc.k2h';

/** The data file of a parsed INI; refuses slaves and memory-only nodes, which hold no file. */
export function dataFileOf(ini: ChmpxIni): K2hDataFile {
  const k2h = ini.k2hdkc;
  if (k2h === undefined) {
    throw new BackupError('ARCHIVE', 'this node has no [K2HDKC] section (a slave node holds no data to back up or restore)');
  }
  const type = (k2h.k2hType ?? 'file').toUpperCase();
  if (type !== 'FILE' && type !== 'F') {
    throw new BackupError('ARCHIVE', `[K2HDKC] K2HTYPE = ${k2h.k2hType ?? ''}: only file-backed nodes can be backed up or restored`);
  }
  const path = k2h.k2hFile ?? DEFAULT_K2HFILE;
  if (!path.startsWith('/')) throw new BackupError('ARCHIVE', `[K2HDKC] K2HFILE must be an absolute path, got ${path}`);
  const int = (key: string): number | undefined => {
    const raw = k2h.values[key];
    if (raw === undefined || raw.trim() === '') return undefined;
    const n = Number(raw.trim());
    if (!Number.isInteger(n) || n <= 0) throw new BackupError('ARCHIVE', `[K2HDKC] ${key} = ${raw} is not a positive integer`);
    return n;
  };
  const full = (k2h.values['K2HFULLMAP'] ?? '').trim().toLowerCase();
  return {
    path,
    maskBits: int('K2HMASKBIT'),
    cmaskBits: int('K2HCMASKBIT'),
    maxElements: int('K2HMAXELE'),
    pageSize: int('K2HPAGESIZE'),
    fullMap: ['on', 'yes', 'true', '1'].includes(full),
  };
}

/** Reads the INI at `iniPath` and returns its data file; a missing INI means "not prepared". */
export async function readDataFile(iniPath: string): Promise<K2hDataFile> {
  const text = await fs.readFile(iniPath, 'utf8').catch(() => null);
  if (text === null) throw new BackupError('ARCHIVE', `there is no INI at ${iniPath}; the node has not been prepared`);
  return dataFileOf(parseIni(text));
}

/** k2hlinetool's options creating a file with this geometry (`-mask -cmask -elementcnt -pagesize [-fullmap]`). */
export function geometryArgs(file: K2hDataFile): string[] {
  const args: string[] = [];
  if (file.maskBits !== undefined) args.push('-mask', String(file.maskBits));
  if (file.cmaskBits !== undefined) args.push('-cmask', String(file.cmaskBits));
  if (file.maxElements !== undefined) args.push('-elementcnt', String(file.maxElements));
  if (file.pageSize !== undefined) args.push('-pagesize', String(file.pageSize));
  if (file.fullMap) args.push('-fullmap');
  return args;
}
