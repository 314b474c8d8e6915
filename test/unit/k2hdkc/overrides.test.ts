import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentsError } from '../../../src/errors';
import { checkInvariants } from '../../../src/k2hdkc/ini/invariants';
import { parseIni } from '../../../src/k2hdkc/ini/parse';
import { substituteSelf } from '../../../src/k2hdkc/ini/substitute';
import {
  INI_KEYS,
  OverridesStore,
  bootstrapSettings,
  isDynamic,
  overlayIni,
  parseConfigContents,
  validateSettings,
} from '../../../src/k2hdkc/overrides';
import { CONFIGURATION_RULES } from '../../../src/k2hdkc/overrides-rules';

const REPO = join(__dirname, '../../..');
// As the agent has it before the overlay: SELFCUK filled in with this node's id.
const SERVER_INI = substituteSelf(readFileSync(join(REPO, 'test/fixtures/k2hdkc/server-trove.ini'), 'utf8'), '1b4e28ba-2fa1-11d2-883f-0016d3cca427');
const SLAVE_INI = readFileSync(join(REPO, 'test/fixtures/k2hdkc/slave-trove.ini'), 'utf8');
const PORTS = { serverPort: 8020, serverCtlport: 8021, slaveCtlport: 8031 };

describe('the rules compiled into the agent', () => {
  it('are exactly datastore/validation-rules.json (regenerate src/k2hdkc/overrides-rules.ts when this fails)', () => {
    const json = JSON.parse(readFileSync(join(REPO, 'datastore/validation-rules.json'), 'utf8')) as { 'configuration-parameters': unknown[] };
    expect(CONFIGURATION_RULES).toEqual(json['configuration-parameters']);
  });

  it('use only the types and fields Trove 18 accepts, with min <= max', () => {
    for (const rule of CONFIGURATION_RULES) {
      expect(['integer', 'string', 'boolean', 'float']).toContain(rule.type);
      expect(Object.keys(rule).every((k) => ['name', 'restart_required', 'type', 'min', 'max', 'description'].includes(k))).toBe(true);
      if (rule.min !== undefined && rule.max !== undefined) expect(rule.min).toBeLessThanOrEqual(rule.max);
    }
  });

  it('mark as dynamic only what the agent can apply live, and map every restart-only tunable to an INI key', () => {
    expect(CONFIGURATION_RULES.filter((r) => !r.restart_required).map((r) => r.name)).toEqual(['chmpx-suspend-merge']);
    const bootstrap = ['cluster-name', 'extdata-url', 'chmpx-server-port', 'chmpx-server-ctlport', 'chmpx-slave-ctlport'];
    for (const rule of CONFIGURATION_RULES) {
      if (rule.restart_required && !bootstrap.includes(rule.name)) expect(INI_KEYS[rule.name], rule.name).toBeDefined();
    }
    expect(isDynamic('chmpx-suspend-merge')).toBe(true);
    expect(isDynamic('k2hdkc-maxthread')).toBe(false);
    expect(isDynamic('no-such-thing')).toBe(false);
  });

  it('render config.template into lines parseConfigContents accepts in full', () => {
    const template = readFileSync(join(REPO, 'datastore/templates/config.template'), 'utf8');
    expect(template).not.toMatch(/[&<>"']/);
    // What jinja leaves after substituting the {{ }} expressions (only in the comment header).
    const rendered = template.replace(/\{\{[^}]*\}\}/g, 'x');
    const { settings, ignored } = parseConfigContents(rendered);
    expect(ignored).toEqual([]);
    expect(settings).toEqual({ 'chmpx-server-port': 8020, 'chmpx-server-ctlport': 8021, 'chmpx-slave-ctlport': 8031, 'chmpx-suspend-merge': false });
  });
});

describe('validateSettings', () => {
  it('accepts typed JSON and the string forms Trove\'s template parser yields', () => {
    expect(validateSettings({ 'k2hdkc-maxthread': 8, 'chmpx-suspend-merge': true, 'cluster-name': 'c1' }, 'overrides')).toEqual({
      'k2hdkc-maxthread': 8, 'chmpx-suspend-merge': true, 'cluster-name': 'c1',
    });
    expect(validateSettings({ 'k2hdkc-maxthread': ' 8 ', 'chmpx-suspend-merge': 'False' }, 'overrides')).toEqual({ 'k2hdkc-maxthread': 8, 'chmpx-suspend-merge': false });
    expect(validateSettings({ 'chmpx-suspend-merge': null }, 'overrides')).toEqual({});
  });

  it('refuses unknown names, wrong types and values outside the range, listing every problem', () => {
    let error: unknown;
    try {
      validateSettings({ maxthread: 4, 'k2hdkc-maxthread': 0, 'chmpx-server-port': 70000, 'chmpx-retrycnt': 2.5, 'chmpx-suspend-merge': 'maybe', 'cluster-name': 'a b' }, 'overrides');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidArgumentsError);
    const message = (error as Error).message;
    expect(message).toContain('maxthread is not a K2HDKC configuration parameter');
    expect(message).toContain('k2hdkc-maxthread must be at least 1 (got 0)');
    expect(message).toContain('chmpx-server-port must be at most 32767 (got 70000)');
    expect(message).toContain('chmpx-retrycnt must be an integer');
    expect(message).toContain('chmpx-suspend-merge must be a boolean');
    expect(message).toContain('cluster-name must be letters');
  });

  it('refuses ports above 32767, naming the parameter, the limit and why (chmpx keeps ports in a signed short)', () => {
    for (const name of ['chmpx-server-port', 'chmpx-server-ctlport', 'chmpx-slave-ctlport']) {
      expect(() => validateSettings({ [name]: 32768 }, 'overrides')).toThrow(
        `Invalid overrides: ${name} must be at most 32767 (got 32768): chmpx keeps ports as signed 16-bit numbers and fails on higher ones.`,
      );
      expect(validateSettings({ [name]: 32767 }, 'overrides')[name]).toBe(32767);
      expect(validateSettings({ [name]: '1' }, 'overrides')[name]).toBe(1);
    }
  });

  it('refuses a minimum thread count above the maximum', () => {
    expect(() => validateSettings({ 'k2hdkc-minthread': 30, 'k2hdkc-maxthread': 20 }, 'overrides')).toThrow(/minthread \(30\) must not exceed k2hdkc-maxthread \(20\)/);
  });

  it('checks extdata-url as a URL', () => {
    expect(() => validateSettings({ 'extdata-url': 'file:///etc/passwd' }, 'overrides')).toThrow(/extdata-url must be an http\(s\) URL/);
    expect(validateSettings({ 'extdata-url': 'https://k2hr3.example/v1/extdata/trove/abc' }, 'overrides')['extdata-url']).toBe('https://k2hr3.example/v1/extdata/trove/abc');
  });
});

describe('parseConfigContents', () => {
  it('skips section headers, comments and names that are not parameters, and reports the latter', () => {
    const { settings, ignored } = parseConfigContents('[k2hdkc]\n# comment\nmaxthread = 8\nchmpx-server-port = 9020\n; other\n');
    expect(settings).toEqual({ 'chmpx-server-port': 9020 });
    expect(ignored).toEqual(['maxthread']);
  });

  it('refuses a bad value of a known parameter', () => {
    expect(() => parseConfigContents('chmpx-server-ctlport = 0\n')).toThrow(/config_contents: chmpx-server-ctlport must be at least 1 \(got 0\)/);
    expect(() => parseConfigContents('chmpx-server-port = 40000\n')).toThrow(/config_contents: chmpx-server-port must be at most 32767 \(got 40000\)/);
  });
});

describe('bootstrapSettings', () => {
  it('returns cluster name, extdata URL and all three ports (defaults filling gaps) when any port is set', () => {
    expect(bootstrapSettings({ 'cluster-name': 'c1', 'chmpx-server-port': 9020 }, PORTS)).toEqual({
      clusterName: 'c1', ports: { serverPort: 9020, serverCtlport: 8021, slaveCtlport: 8031 },
    });
    expect(bootstrapSettings({ 'cluster-name': '', 'extdata-url': '' }, PORTS)).toEqual({});
  });
});

describe('overlayIni', () => {
  it('sets [GLOBAL] and [K2HDKC] keys on a server INI, leaving every other line as it was', () => {
    const out = overlayIni(SERVER_INI, { 'k2hdkc-maxthread': 8, 'chmpx-sockthreadcnt': 4, 'chmpx-suspend-merge': true }, 'server');
    const ini = parseIni(out);
    expect(ini.k2hdkc?.values['MAXTHREAD']).toBe('8');
    expect(ini.global?.values['SOCKTHREADCNT']).toBe('4');
    expect(checkInvariants(ini, 'server')).toEqual([]);
    const changed = out.split('\n').filter((line, i) => line !== SERVER_INI.split('\n')[i]);
    expect(changed.map((l) => l.replace(/\s+/g, ' ').trim())).toEqual(['SOCKTHREADCNT = 4', 'MAXTHREAD = 8']);
  });

  it('appends a key the served INI lacks at the end of its section', () => {
    const out = overlayIni(SERVER_INI, { 'k2hdkc-rcvtimeout': 2000 }, 'server');
    expect(parseIni(out).k2hdkc?.values['RCVTIMEOUT']).toBe('2000');
    expect(out.length).toBeGreaterThan(SERVER_INI.length);
  });

  it('returns the same text when nothing changes and leaves a slave without [K2HDKC]', () => {
    expect(overlayIni(SERVER_INI, {}, 'server')).toBe(SERVER_INI);
    expect(overlayIni(SERVER_INI, { 'chmpx-suspend-merge': true, 'cluster-name': 'x' }, 'server')).toBe(SERVER_INI);
    const slave = overlayIni(SLAVE_INI, { 'k2hdkc-maxthread': 8 }, 'slave');
    expect(slave).toBe(SLAVE_INI);
  });
});

describe('OverridesStore', () => {
  it('keeps a set atomically with mode 0640, reads it back validated, and forgets it on clear', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'k2h-overrides-'));
    const store = new OverridesStore(join(dir, 'overrides.json'));
    expect(await store.load()).toEqual({});
    await store.save({ 'k2hdkc-maxthread': 8 });
    expect(statSync(store.path).mode & 0o777).toBe(0o640);
    expect(await store.load()).toEqual({ 'k2hdkc-maxthread': 8 });
    await store.clear();
    expect(await store.load()).toEqual({});
  });

  it('refuses a file whose values no longer pass the rules', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'k2h-overrides-'));
    const store = new OverridesStore(join(dir, 'overrides.json'));
    writeFileSync(store.path, '{"k2hdkc-maxthread": 99999}');
    await expect(store.load()).rejects.toThrow(/k2hdkc-maxthread must be at most 1000/);
    writeFileSync(store.path, '[1]');
    await expect(store.load()).rejects.toThrow(/does not hold an object/);
  });
});
