import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { formatList, formatShow, parseFormat } from '../../../src/dbaas-cli/output';

const rows = [
  { name: 'c1', servers: 3, slaves: 1, status: 'ACTIVE' },
  { name: 'longer-name', servers: 4, slaves: 0, status: 'BUILDING' },
];

describe('output formats', () => {
  it('draws a list as the openstack CLI does', () => {
    expect(formatList(['name', 'servers', 'slaves', 'status'], rows, { format: 'table' })).toBe(
      [
        '+-------------+---------+--------+----------+',
        '| name        | servers | slaves | status   |',
        '+-------------+---------+--------+----------+',
        '| c1          | 3       | 1      | ACTIVE   |',
        '| longer-name | 4       | 0      | BUILDING |',
        '+-------------+---------+--------+----------+',
        '',
      ].join('\n'),
    );
  });

  it('gives json objects keyed by column, bare values, and yaml', () => {
    expect(JSON.parse(formatList(['name', 'servers'], rows, { format: 'json' }))).toEqual([
      { name: 'c1', servers: 3 },
      { name: 'longer-name', servers: 4 },
    ]);
    expect(formatList(['name', 'status'], rows, { format: 'value' })).toBe('c1 ACTIVE\nlonger-name BUILDING\n');
    expect(parseYaml(formatList(['name'], rows, { format: 'yaml' }))).toEqual([{ name: 'c1' }, { name: 'longer-name' }]);
    expect(formatList(['name'], [], { format: 'json' })).toBe('[]\n');
    expect(formatList(['name'], [], { format: 'table' })).toBe('');
  });

  it('keeps only the -c columns, in table order, and refuses an unknown one', () => {
    expect(formatList(['name', 'servers', 'status'], rows, { format: 'value', columns: ['status', 'name'] })).toBe('c1 ACTIVE\nlonger-name BUILDING\n');
    expect(() => formatList(['name'], rows, { format: 'value', columns: ['nope'] })).toThrow(/-c\/--column "nope" is not a column \(columns: name\)/);
  });

  it('shows one object as Field/Value, multi-line cells for lists', () => {
    const row = { name: 'c1', servers: ['a 1', 'b 2'], ports: 'port 8020' };
    expect(formatShow(row, { format: 'table' })).toBe(
      ['+---------+-----------+', '| Field   | Value     |', '+---------+-----------+', '| name    | c1        |', '| servers | a 1       |', '|         | b 2       |', '| ports   | port 8020 |', '+---------+-----------+', ''].join('\n'),
    );
    expect(JSON.parse(formatShow(row, { format: 'json' }))).toEqual(row);
    expect(formatShow(row, { format: 'value', columns: ['name'] })).toBe('c1\n');
  });

  it('refuses an unknown format', () => {
    expect(parseFormat('json')).toBe('json');
    expect(() => parseFormat('csv')).toThrow(/"csv" is not one of table, json, value, yaml/);
  });
});
