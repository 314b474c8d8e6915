import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../system/atomic-file';

/** The INI text as K2HR3 last served it, in stateDir (before SELFCUK substitution and overrides). */
export const SERVED_INI_FILE = 'k2hr3-served.ini';

/** Sets this node's configuration overrides on the text K2HR3 serves. */
export type IniOverlay = (served: string) => Promise<string>;

/**
 * Keeps what K2HR3 served (the base the overlay is applied to again on restart, so a removed
 * override goes back to the served value) and returns it with the overlay applied. Without an
 * overlay the text is returned as served and nothing is kept.
 */
export async function overlayServed(stateDir: string, served: string, overlay: IniOverlay | undefined): Promise<string> {
  if (overlay === undefined) return served;
  const path = join(stateDir, SERVED_INI_FILE);
  // Rewritten only when it changed: every K2HR3 poll passes through here.
  if ((await fs.readFile(path, 'utf8').catch(() => undefined)) !== served) await writeFileAtomic(path, served, 0o640);
  return overlay(served);
}

/** The last served text with the overrides now in force; null without an overlay or before K2HR3 served anything. */
export async function overlayLastServed(stateDir: string, overlay: IniOverlay | undefined): Promise<string | null> {
  if (overlay === undefined) return null;
  const served = await fs.readFile(join(stateDir, SERVED_INI_FILE), 'utf8').catch(() => undefined);
  return served === undefined ? null : overlay(served);
}
