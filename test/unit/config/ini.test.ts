import { describe, expect, it } from 'vitest';
import { parseIni } from '../../../src/config/ini';

describe('parseIni', () => {
  it('reads sections, both separators, comments, quotes and continuation lines', () => {
    const text = [
      '# comment',
      '[DEFAULT]',
      'a = 1',
      'b: two words ',
      "c = 'quoted value'",
      '; another comment',
      'multi = first',
      '   second',
      '[group]',
      'empty =',
      '  indented_key = x',
    ].join('\n');
    const entries = parseIni(text, 'f.conf').map(({ section, key, value, line }) => ({ section, key, value, line }));
    expect(entries).toEqual([
      { section: 'DEFAULT', key: 'a', value: '1', line: 3 },
      { section: 'DEFAULT', key: 'b', value: 'two words', line: 4 },
      { section: 'DEFAULT', key: 'c', value: 'quoted value', line: 5 },
      { section: 'DEFAULT', key: 'multi', value: 'first\nsecond', line: 7 },
      { section: 'group', key: 'empty', value: 'indented_key = x', line: 10 },
    ]);
  });

  it('does not glue an indented line onto the previous section', () => {
    expect(() => parseIni('[a]\nx = 1\n[b]\n  y = 2\n', 'f.conf')).not.toThrow();
    expect(parseIni('[a]\nx = 1\n[b]\n  y = 2\n', 'f.conf').map((e) => `${e.section}.${e.key}=${e.value}`)).toEqual([
      'a.x=1',
      'b.y=2',
    ]);
  });

  it('rejects a line that is neither header nor assignment', () => {
    expect(() => parseIni('[a]\njust words\n', 'f.conf')).toThrow('f.conf:2: cannot parse line');
  });
});
