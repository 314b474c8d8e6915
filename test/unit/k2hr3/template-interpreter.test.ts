import { describe, expect, it } from 'vitest';
import { expandTemplate, loadTemplate, TemplateLoadError, variableNames } from '../../doubles/k2hr3/template';

// The K2HR3 double's template interpreter, feature by feature, for what the DBaaS template uses.
// Expected outputs follow the language as spec §2/§10 and K2HR3's own template corpus state it:
// static text is kept byte for byte, statements print nothing (so a statement alone on its line
// leaves that line's feed), the engine line goes with the line feeds after it.

const HEADER = '{{#!k2hr3template }}\n';

describe('K2HR3 template interpreter (test double)', () => {
  it('removes the engine line and every line feed after it; refuses another engine', () => {
    expect(expandTemplate('{{#!k2hr3template }}\n\n\nA = 1\n', {})).toBe('A = 1\n');
    expect(expandTemplate('{{#!K2HR3TEMPLATE   }}\r\nA\n', {})).toBe('A\n');
    expect(expandTemplate('no engine line\n', {})).toBe('no engine line\n');
    expect(() => loadTemplate('{{#!jinja }}\nA\n')).toThrow(TemplateLoadError);
  });

  it('keeps static text verbatim and leaves the line feed of a statement line', () => {
    const t = `${HEADER}[GLOBAL]\n{{ if true }}\nA = 1\n{{ endif }}\nB = 2\n`;
    expect(expandTemplate(t, {})).toBe('[GLOBAL]\n\nA = 1\n\nB = 2\n');
    expect(expandTemplate(`${HEADER}X = {{= 'v' }}!  \n`, {})).toBe('X = v!  \n');
  });

  it('drops comments, also over several lines', () => {
    expect(expandTemplate(`${HEADER}{{#\n # two\n # lines }}\nA\n{{# one }}B\n`, {})).toBe('\nA\nB\n');
  });

  it('prints null as nothing and other values as text', () => {
    const vars = { s: 'str', n: 8020, b: false, nul: null, arr: ['a', 'b'], obj: { k: 'v' } };
    const t = `${HEADER}{{= %s% }}|{{= %n% }}|{{= %b% }}|{{= %nul% }}|{{= %arr% }}|{{= %obj% }}|{{= %obj%{'k'} }}|{{= %none% }}|{{= null }}|{{= TRUE }}|{{= 0xff }}|{{= 0o11 }}|{{= 0b11 }}`;
    expect(expandTemplate(t, vars)).toBe('str|8020|false||a,b|[object Object]|v|||true|255|9|3');
  });

  it('has no empty string literal: a template with one does not load', () => {
    for (const bad of [`{{ if '' != %x% }}a{{ endif }}`, `{{ if %x% != "" }}a{{ endif }}`, `{{= '' }}`]) {
      expect(() => loadTemplate(HEADER + bad)).toThrow(/no empty string literal/);
    }
  });

  it('treats null fields as false and tests presence with a bare variable', () => {
    const t = `${HEADER}{{ if %h%{'inboundip'} }}IN{{ else }}none{{ endif }}`;
    expect(expandTemplate(t, { h: { inboundip: null } })).toBe('none');
    expect(expandTemplate(t, { h: { inboundip: '10.0.0.1' } })).toBe('IN');
    expect(expandTemplate(t, { h: {} })).toBe('none');
    expect(expandTemplate(t, {})).toBe('none');
    // The reason the shipped template never compares with '': null != '' would be true.
    expect(expandTemplate(`${HEADER}{{ if 'x' != %h%{'inboundip'} }}T{{ endif }}`, { h: { inboundip: null } })).toBe('T');
  });

  it('compares strings case-sensitively, numbers by value, null like false', () => {
    const cmp = (expr: string, vars: Record<string, never> | Record<string, unknown> = {}): string =>
      expandTemplate(`${HEADER}{{= ${expr} }}`, vars as never);
    expect(cmp(`'SERVER' == %m%`, { m: 'SERVER' })).toBe('true');
    expect(cmp(`'SERVER' == %m%`, { m: 'server' })).toBe('false');
    expect(cmp(`'8020' == 8020`)).toBe('true');
    expect(cmp(`8020 == 'x8020'`)).toBe('false');
    expect(cmp(`0 == %o%.length`, { o: {} })).toBe('true');
    expect(cmp(`0 == %a%.length`, { a: ['x'] })).toBe('false');
    expect(cmp(`0 == %missing%.length`)).toBe('true');
    expect(cmp(`null == false`)).toBe('true');
    expect(cmp(`null == 'x'`)).toBe('false');
    expect(cmp(`%z% != null`, { z: '0' })).toBe('false');
    expect(cmp(`%a%.size`, { a: [1, 2, 3] })).toBe('3');
    expect(cmp(`%o%.count`, { o: { a: 1, b: 2 } })).toBe('2');
  });

  it('takes the first true branch of if / elif / else', () => {
    const t = `${HEADER}{{ if %v% == 1 }}one{{ elif %v% == 2 }}two{{ elif %v% }}other{{ else }}none{{ endif }}`;
    expect([1, 2, 3, 0, null].map((v) => expandTemplate(t, { v }))).toEqual(['one', 'two', 'other', 'none', 'none']);
    expect(expandTemplate(`${HEADER}{{ if %v% }}y{{ endif }}`, { v: '0' })).toBe('');
    expect(expandTemplate(`${HEADER}{{ if !%v% }}y{{ endif }}`, { v: '' })).toBe('y');
  });

  it('walks objects by key in their order and arrays by position; anything else not at all', () => {
    const t = `${HEADER}{{ foreach %k% in %o% }}{{ %n% = %o%{%k%} }}[{{= %k% }}={{= %n%{'tag'} }}]{{ done }}.`;
    const hosts = { '10.0.0.9,0,c': { tag: 'z' }, '10.0.0.1,0,a': { tag: 'a' }, '10.0.0.5,0,b': { tag: null } };
    expect(expandTemplate(t, { o: hosts })).toBe('[10.0.0.9,0,c=z][10.0.0.1,0,a=a][10.0.0.5,0,b=].');
    expect(expandTemplate(`${HEADER}{{ foreach %i% in %a% }}{{= %i% }}:{{= %a%[%i%] }} {{ done }}`, { a: ['x', null, 'y'] })).toBe('0:x 1: 2:y ');
    expect(expandTemplate(t, { o: 'text' })).toBe('.');
    expect(expandTemplate(t, {})).toBe('.');
  });

  it('assigns variables and keeps full YRNs as variable names', () => {
    const yrn = 'yrn:yahoo:::demo:role:c1/server/hosts/ip';
    const t = `${HEADER}{{ %s% = %${yrn}% }}{{= %s%.length }}`;
    expect(expandTemplate(t, { [yrn]: { a: 1, b: 2 } })).toBe('2');
    expect(variableNames(loadTemplate(t))).toEqual(['s', yrn]);
    // A name written in another letter case is another variable.
    expect(expandTemplate(t.replace('c1', 'C1'), { [yrn]: { a: 1 } })).toBe('0');
  });

  it('refuses what it does not implement instead of guessing', () => {
    for (const bad of ['{{ while true }}x{{ done }}', '{{{ escaped }}}', '{{= 10 % 3 }}', '{{ if true }}open', '{{ done }}', '{{ %a% + 1 }}']) {
      expect(() => loadTemplate(HEADER + bad)).toThrow(TemplateLoadError);
    }
  });
});
