import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { K2hr3Double } from '../../doubles/k2hr3';

/** The DBaaS INI template the tests provision with (the real one will live in datastore/). */
export const DBAAS_TEMPLATE = readFileSync(join(__dirname, '../../../datastore/k2hdkc-dbaas-template.txt'), 'utf8');

/** The user token of the tests: alice's, scoped to project `demo` (test/doubles/keystone). */
export const KEYSTONE_TOKEN = 'gAAAAABkeystoneTOKENforTESTSonly000000000000000000';
export const KEYSTONE_USER = { id: 'a11ce0000000000000000000000000a1', name: 'alice' } as const;
/** Trove's request context carries this id (project_id) and never the name. */
export const KEYSTONE_PROJECT = { id: '0de30000000000000000000000000de3', name: 'demo' } as const;
export const KEYSTONE_TOKENS = { [KEYSTONE_TOKEN]: { user: KEYSTONE_USER, project: KEYSTONE_PROJECT } };
/** The same tokens as the K2HR3 double knows them (KeystoneDouble.k2hr3Keystone() gives this shape). */
export const KEYSTONE = { [KEYSTONE_TOKEN]: { user: KEYSTONE_USER.name, projects: [KEYSTONE_PROJECT.name] } };

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

/** A K2HR3 API double that knows KEYSTONE's token, listening from the enclosing suite's start to its end. */
export function useK2hr3Double(): K2hr3Double {
  const double = new K2hr3Double({ keystone: KEYSTONE });
  beforeAll(async () => {
    await double.start();
  });
  afterAll(async () => {
    await double.stop();
  });
  return double;
}
