import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkInvariants, parseIni, substituteSelf } from '../../../../src/k2hdkc/ini';

const fixture = (name: string): string => readFileSync(join(__dirname, '../../../fixtures/k2hdkc', name), 'utf8');
const SERVER = substituteSelf(fixture('server-trove.ini'), '6fa459ea-ee8a-3ca4-894e-db77e160355e');
const SLAVE = substituteSelf(fixture('slave-trove.ini'), '9d3a1b2c-0000-4000-8000-000000000001');
const reasons = (text: string, role: 'server' | 'slave' = 'server'): string[] => checkInvariants(parseIni(text), role);

describe('checkInvariants', () => {
  it('accepts the DBaaS templates once the instance id is filled in', () => {
    expect(reasons(SERVER)).toEqual([]);
    expect(reasons(SLAVE, 'slave')).toEqual([]);
    expect(reasons(fixture('hand-edited.ini'))).toEqual([]);
  });

  it('refuses an INI that still carries __SELF_INSTANCE_ID__', () => {
    expect(reasons(fixture('server-trove.ini')).join('\n')).toMatch(/SELFCUK still contains __SELF_INSTANCE_ID__/);
  });

  it('names each missing required [GLOBAL] key', () => {
    const out = reasons(SERVER.replace(/^GROUP .*\n/m, '').replace(/^DELIVERMODE .*\n/m, ''));
    expect(out).toContain('[GLOBAL] GROUP is missing (chmpx refuses to load without it)');
    expect(out).toContain('[GLOBAL] DELIVERMODE is missing (chmpx refuses to load without it)');
  });

  it('refuses an INI without [SLVNODE]', () => {
    const text = SERVER.replace(/\[SLVNODE\][\s\S]*?\n\n/, '');
    expect(reasons(text)).toContain('no [SLVNODE] section: chmpx will not start without a slave definition');
  });

  it('refuses an INI without any [SVRNODE]', () => {
    const text = SERVER.replace(/\[SVRNODE\][\s\S]*?\n\n/g, '');
    expect(reasons(text)).toEqual(
      expect.arrayContaining([
        'no [SVRNODE] section: chmpx needs at least one server',
        "no [SVRNODE] with CTLPORT 8021 and CUK '6fa459ea-ee8a-3ca4-894e-db77e160355e': this node's own entry is missing",
      ]),
    );
  });

  it('requires MQACK = no because chmpx defaults it to on', () => {
    expect(reasons(SERVER.replace(/^MQACK .*\n/m, '')).join('\n')).toMatch(/MQACK must be 'no'.*found 'unset'/);
    expect(reasons(SERVER.replace(/^MQACK .*$/m, 'MQACK = yes')).join('\n')).toMatch(/found 'yes'/);
  });

  it('reports ports above 32767, which chmpx wraps to negative numbers', () => {
    const out = reasons(SERVER.replace(/^PORT( +)= 8020$/m, 'PORT$1= 40000'));
    expect(out.some((r) => /PORT 40000 is above 32767: chmpx keeps ports as signed 16-bit numbers/.test(r))).toBe(true);
    expect(reasons(SERVER.replace(/^PORT( +)= 8020$/m, 'PORT$1= 32767')).some((r) => r.includes('32767'))).toBe(false);
  });

  it('reports bad ports, missing CUSTOM_ID_SEED and duplicate servers', () => {
    const text = SERVER.replace('CTLPORT             = 8021\nCUSTOM_ID_SEED      = node-c.example.local', 'CTLPORT = 70000')
      .replace('NAME                = node-b.example.local', 'NAME = node-a.example.local')
      .replace('CUSTOM_ID_SEED      = node-b.example.local', 'CUSTOM_ID_SEED = node-a.example.local');
    const out = reasons(text);
    expect(out).toContain("[SVRNODE] #3 (node-c.example.local) CTLPORT '70000' is not a port number (1-32767)");
    expect(out).toContain('[SVRNODE] #3 (node-c.example.local) has no CUSTOM_ID_SEED, required with CHMPXIDTYPE=CUSTOM');
    expect(out).toContain('[SVRNODE] #2 (node-a.example.local) duplicates [SVRNODE] #1 (node-a.example.local) (same NAME, PORT and CTLPORT)');
    expect(out).toContain(
      "[SVRNODE] #2 (node-a.example.local) has the same CUSTOM_ID_SEED 'node-a.example.local' as [SVRNODE] #1 (node-a.example.local)",
    );
  });

  it('refuses an INI that no longer lists this node (chmpx would exit)', () => {
    const text = SERVER.replace(/\[SVRNODE\]\nNAME {16}= node-b[\s\S]*?SSL {17}= no\n\n/, '');
    expect(reasons(text)).toEqual([
      "no [SVRNODE] with CTLPORT 8021 and CUK '6fa459ea-ee8a-3ca4-894e-db77e160355e': this node's own entry is missing",
    ]);
  });

  it('checks MODE against the role and [K2HDKC] only on servers', () => {
    expect(reasons(SLAVE, 'server')).toEqual(
      expect.arrayContaining(['[GLOBAL] MODE is SLAVE but this node is a server', '[K2HDKC] section is missing (a server runs k2hdkc)']),
    );
    const memory = SERVER.replace('K2HTYPE             = file', 'K2HTYPE = mem');
    expect(reasons(memory)).toEqual(["[K2HDKC] K2HTYPE 'mem' is not file: data would not survive a restart"]);
  });

  it('refuses a half-written file, as chmpx would read it mid-write', () => {
    const half = SERVER.slice(0, SERVER.indexOf('[SVRNODE]') + 40);
    expect(reasons(half).length).toBeGreaterThan(0);
    expect(reasons('')).toEqual(['[GLOBAL] section is missing']);
  });

  it('reports unreadable lines, INCLUDE and repeated keys', () => {
    const text = SERVER.replace('REPLICA             = 1', 'REPLICA = 1\nREPLICA = 2\nINCLUDE /etc/other.ini\nBROKEN = "open');
    const out = reasons(text).join('\n');
    expect(out).toMatch(/\[GLOBAL\] sets REPLICA twice/);
    expect(out).toMatch(/INCLUDE is not allowed/);
    expect(out).toMatch(/cannot read 'BROKEN = "open': unbalanced quote/);
  });
});
