import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The DBaaS INI template the tests provision with (the real one will live in datastore/). */
export const DBAAS_TEMPLATE = readFileSync(join(__dirname, '../../fixtures/k2hr3/k2hdkc-dbaas-template.txt'), 'utf8');

/** Keystone tokens the double accepts. */
export const KEYSTONE_TOKEN = 'gAAAAABkeystoneTOKENforTESTSonly000000000000000000';
export const KEYSTONE = { [KEYSTONE_TOKEN]: { user: 'alice', projects: ['demo'] } };

/** Fast retries so failure tests stay quick (the backoff is not what they check). */
export const FAST = { attempts: 3, backoffBaseMs: 5, backoffMaxMs: 20, timeoutMs: 5000 } as const;

/** `[SVRNODE]` / `[SLVNODE]` sections of an INI as NAME/CUK pairs, in file order. */
export function nodes(ini: string, section: 'SVRNODE' | 'SLVNODE'): { name: string; cuk: string }[] {
  const out: { name: string; cuk: string }[] = [];
  let cur: Record<string, string> | undefined;
  const flush = (): void => {
    if (cur) out.push({ name: cur.NAME ?? '', cuk: cur.CUK ?? '' });
  };
  for (const line of ini.split('\n')) {
    const sec = /^\[(\w+)\]$/.exec(line.trim());
    if (sec) {
      flush();
      cur = sec[1] === section ? {} : undefined;
      continue;
    }
    const kv = /^(\w+)\s*=\s*(.*)$/.exec(line.trim());
    if (cur && kv) cur[kv[1] as string] = kv[2] as string;
  }
  flush();
  return out;
}
