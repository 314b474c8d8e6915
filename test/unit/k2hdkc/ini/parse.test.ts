import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { composeIni, diffMembership, extractIniValue, parseIni, renderIni, substituteSelf } from '../../../../src/k2hdkc/ini';
import { IniError } from '../../../../src/errors';

const fixture = (name: string): string => readFileSync(join(__dirname, '../../../fixtures/k2hdkc', name), 'utf8');

describe('parseIni / renderIni', () => {
  it.each(['server-trove.ini', 'slave-trove.ini', 'hand-edited.ini'])('renders %s back byte for byte', (name) => {
    const text = fixture(name);
    expect(renderIni(parseIni(text))).toBe(text);
  });

  it('reads the DBaaS server template into typed sections in file order', () => {
    const ini = parseIni(fixture('server-trove.ini'));
    expect(ini.global?.group).toBe('mycluster');
    expect(ini.global?.chmpxIdType).toBe('CUSTOM');
    expect(ini.global?.mqack).toBe(false);
    expect(ini.global?.selfCtlport).toBe(8021);
    expect(ini.servers.map((s) => [s.name, s.port, s.ctlport, s.customIdSeed])).toEqual([
      ['node-a.example.local', 8020, 8021, 'node-a.example.local'],
      ['node-b.example.local', 8020, 8021, 'node-b.example.local'],
      ['node-c.example.local', 8020, 8021, 'node-c.example.local'],
    ]);
    expect(ini.slaves).toHaveLength(1);
    expect(ini.slaves[0]?.cuk).toBe('dummy_cuk');
    expect(ini.slaves[0]?.port).toBeUndefined();
    expect(ini.k2hdkc?.k2hFile).toBe('/var/lib/antpickax/k2hdkc/k2hdkc.k2h');
    expect(ini.k2hdkc?.k2hInit).toBe(false);
  });

  it('strips trailing comments and quotes the way chmpx does, and keeps unknown sections', () => {
    const ini = parseIni(fixture('hand-edited.ini'));
    expect(ini.global?.group).toBe('TESTDKC');
    expect(ini.global?.values.X_VENDOR_KEY).toBe('kept # as is');
    expect(ini.global?.port).toBeUndefined(); // commented out
    expect(ini.k2hdkc?.k2hType).toBe('file');
    expect(ini.sections.map((s) => s.name)).toEqual(['GLOBAL', 'SVRNODE', 'SLVNODE', 'K2HDKC', 'VENDOR_EXTRA']);
    expect(ini.preamble[0]?.kind).toBe('comment');
  });

  it('takes a missing node PORT/CTLPORT from [GLOBAL]', () => {
    const ini = parseIni('[GLOBAL]\nPORT = 9020\nCTLPORT = 9021\n[SVRNODE]\nNAME = a\n[SLVNODE]\nNAME = b\n');
    expect(ini.servers[0]).toMatchObject({ port: 9020, ctlport: 9021 });
    expect(ini.slaves[0]).toMatchObject({ port: undefined, ctlport: 9021 });
  });

  it('rewrites only the edited line and leaves unknown keys alone', () => {
    const text = fixture('hand-edited.ini');
    const ini = parseIni(text);
    const entry = ini.sections[0]?.lines.find((l) => l.kind === 'entry' && l.key === 'MODE');
    if (entry?.kind !== 'entry') throw new Error('MODE not found');
    entry.value = 'SLAVE';
    const out = renderIni(ini);
    expect(out).toBe(text.replace('MODE\t\t\t\t= SERVER', 'MODE = SLAVE'));
    expect(parseIni(out).global?.values.X_VENDOR_KEY).toBe('kept # as is');
  });

  it('composes an INI that parses back to the same values', () => {
    const text = composeIni({
      global: [['GROUP', 'g'], ['FILEVERSION', '1'], ['DELIVERMODE', 'hash'], ['NOTE', 'has # hash']],
      servers: [[['NAME', '127.0.0.2'], ['PORT', '8020'], ['CTLPORT', '8021']]],
      slaves: [[['NAME', '127.0.0.1'], ['CTLPORT', '8031']]],
      k2hdkc: [['K2HTYPE', 'file']],
    });
    const ini = parseIni(text);
    expect(ini.global?.values.NOTE).toBe('has # hash');
    expect(ini.servers[0]?.ctlport).toBe(8021);
    expect(ini.k2hdkc?.k2hType).toBe('file');
  });
});

describe('extractIniValue', () => {
  it.each([
    ['  value  ', 'value'],
    ['a#b', 'a#b'],
    ['a #comment', 'a'],
    ["'quoted # kept'", 'quoted # kept'],
    ['"esc \\" quote"', 'esc " quote'],
  ])('%j → %j', (input, expected) => {
    expect(extractIniValue(input)).toBe(expected);
  });

  it('reports an unbalanced quote as undefined', () => {
    expect(extractIniValue('"open')).toBeUndefined();
  });
});

describe('substituteSelf', () => {
  it('fills every __SELF_INSTANCE_ID__', () => {
    const out = substituteSelf(fixture('server-trove.ini'), '1b4e28ba-2fa1-11d2-883f-0016d3cca427');
    expect(out).not.toContain('__SELF_INSTANCE_ID__');
    expect(parseIni(out).global?.selfCuk).toBe('1b4e28ba-2fa1-11d2-883f-0016d3cca427');
  });

  it('refuses an id that would change the INI structure', () => {
    expect(() => substituteSelf('SELFCUK = __SELF_INSTANCE_ID__', 'x\n[GLOBAL]')).toThrow(IniError);
    expect(() => substituteSelf('SELFCUK = __SELF_INSTANCE_ID__', '')).toThrow(IniError);
  });
});

describe('diffMembership', () => {
  it('lists joined and departed servers and slaves, ignoring order', () => {
    const before = parseIni(fixture('server-trove.ini'));
    const text = fixture('server-trove.ini')
      .replace(/\[SVRNODE\]\nNAME {16}= node-b[\s\S]*?SSL {17}= no\n\n/, '')
      .replace('[SLVNODE]', '[SVRNODE]\nNAME = node-d.example.local\nCUK = d\nPORT = 8020\nCTLPORT = 8021\nCUSTOM_ID_SEED = node-d.example.local\n\n[SLVNODE]');
    const diff = diffMembership(before, parseIni(text));
    expect(diff.addedServers.map((m) => m.name)).toEqual(['node-d.example.local']);
    expect(diff.removedServers.map((m) => m.name)).toEqual(['node-b.example.local']);
    expect(diff.addedSlaves).toEqual([]);
    expect(diff.unchanged).toBe(false);
    expect(diffMembership(before, parseIni(fixture('server-trove.ini'))).unchanged).toBe(true);
  });

  it('treats every node as added when there was no previous INI', () => {
    const diff = diffMembership(undefined, parseIni(fixture('slave-trove.ini')));
    expect(diff.addedServers).toHaveLength(2);
    expect(diff.addedSlaves).toHaveLength(1);
  });
});
