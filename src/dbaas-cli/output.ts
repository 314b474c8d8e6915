import { stringify as toYaml } from 'yaml';
import { CliError } from './errors';

/**
 * Output in the `openstack` CLI's formats (cliff): a list is a table of rows, a show is a
 * Field/Value table; `-f json` gives a list of objects or one object (keys = column names),
 * `-f value` the bare values (a row per line, space-separated; a show's values one per line),
 * `-f yaml` the JSON shape as YAML. `-c NAME` (repeatable) keeps only those columns.
 */

export const FORMATS = ['table', 'json', 'value', 'yaml'] as const;
export type Format = (typeof FORMATS)[number];

export type Cell = string | number | boolean | null | readonly string[];
export type Row = Readonly<Record<string, Cell>>;

export interface OutputOptions {
  format: Format;
  columns?: readonly string[];
}

export function parseFormat(raw: string): Format {
  if ((FORMATS as readonly string[]).includes(raw)) return raw as Format;
  throw new CliError('usage', `-f/--format "${raw}" is not one of ${FORMATS.join(', ')}`);
}

function pick(columns: readonly string[], wanted: readonly string[] | undefined): string[] {
  if (wanted === undefined || wanted.length === 0) return [...columns];
  for (const c of wanted) {
    if (!columns.includes(c)) throw new CliError('usage', `-c/--column "${c}" is not a column (columns: ${columns.join(', ')})`);
  }
  return columns.filter((c) => wanted.includes(c));
}

/** A cell as text: lists one item per line in a table, comma-separated elsewhere. */
function text(cell: Cell, inTable: boolean): string {
  if (cell === null) return inTable ? '' : '';
  if (Array.isArray(cell)) return cell.join(inTable ? '\n' : ', ');
  return String(cell);
}

function jsonCell(cell: Cell): unknown {
  return Array.isArray(cell) ? [...cell] : cell;
}

/** An ASCII table as prettytable draws it for cliff: `+---+`, left-aligned, multi-line cells. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => Math.max(0, ...(r[i] ?? '').split('\n').map((l) => l.length)))));
  const rule = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const line = (cells: readonly string[]): string[] => {
    const split = cells.map((c) => c.split('\n'));
    const height = Math.max(1, ...split.map((s) => s.length));
    const out: string[] = [];
    for (let i = 0; i < height; i++) out.push(`| ${split.map((s, j) => (s[i] ?? '').padEnd(widths[j] ?? 0)).join(' | ')} |`);
    return out;
  };
  const lines = [rule, ...line(header), rule];
  for (const r of rows) lines.push(...line(r));
  if (rows.length > 0) lines.push(rule);
  return `${lines.join('\n')}\n`;
}

/** A list command's output. An empty list prints nothing in table/value form, `[]` in json. */
export function formatList(columns: readonly string[], rows: readonly Row[], options: OutputOptions): string {
  const cols = pick(columns, options.columns);
  switch (options.format) {
    case 'json':
      return `${JSON.stringify(rows.map((r) => Object.fromEntries(cols.map((c) => [c, jsonCell(r[c] ?? null)]))), null, 2)}\n`;
    case 'yaml':
      return rows.length === 0 ? '[]\n' : toYaml(rows.map((r) => Object.fromEntries(cols.map((c) => [c, jsonCell(r[c] ?? null)]))));
    case 'value':
      return rows.map((r) => `${cols.map((c) => text(r[c] ?? null, false)).join(' ')}\n`).join('');
    case 'table':
      return rows.length === 0 ? '' : renderTable(cols, rows.map((r) => cols.map((c) => text(r[c] ?? null, true))));
  }
}

/** A show command's output: one object. */
export function formatShow(row: Row, options: OutputOptions): string {
  const cols = pick(Object.keys(row), options.columns);
  switch (options.format) {
    case 'json':
      return `${JSON.stringify(Object.fromEntries(cols.map((c) => [c, jsonCell(row[c] ?? null)])), null, 2)}\n`;
    case 'yaml':
      return toYaml(Object.fromEntries(cols.map((c) => [c, jsonCell(row[c] ?? null)])));
    case 'value':
      return cols.map((c) => `${text(row[c] ?? null, false)}\n`).join('');
    case 'table':
      return renderTable(['Field', 'Value'], cols.map((c) => [c, text(row[c] ?? null, true)]));
  }
}
