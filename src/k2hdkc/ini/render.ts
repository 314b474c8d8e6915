import { quoteIniValue } from './extract';
import type { ChmpxIni, IniLine } from './model';

/**
 * Renders the INI back to text. Unchanged lines come back byte for byte (comments, spacing,
 * unknown keys and sections); an entry whose key or value was edited is written `KEY = VALUE`.
 */
export function renderIni(ini: ChmpxIni): string {
  const out: string[] = ini.preamble.map(renderLine);
  for (const section of ini.sections) {
    out.push(section.header);
    for (const line of section.lines) out.push(renderLine(line));
  }
  return out.join('\n');
}

function renderLine(line: IniLine): string {
  if (line.kind !== 'entry') return line.raw;
  if (line.key === line.parsed.key && line.value === line.parsed.value) return line.raw;
  return `${line.key} = ${quoteIniValue(line.value)}`;
}

/** Input for composeIni(): sections in order; each a list of [key, value] pairs. */
export interface IniSpec {
  readonly global: ReadonlyArray<readonly [string, string]>;
  readonly servers: ReadonlyArray<ReadonlyArray<readonly [string, string]>>;
  readonly slaves: ReadonlyArray<ReadonlyArray<readonly [string, string]>>;
  readonly k2hdkc?: ReadonlyArray<readonly [string, string]>;
}

/** Writes a fresh INI in the layout of the DBaaS template: [GLOBAL], [SVRNODE]s, [SLVNODE]s, [K2HDKC]. */
export function composeIni(spec: IniSpec): string {
  const block = (name: string, pairs: ReadonlyArray<readonly [string, string]>): string =>
    [`[${name}]`, ...pairs.map(([k, v]) => `${k} = ${quoteIniValue(v)}`)].join('\n');
  const blocks = [
    block('GLOBAL', spec.global),
    ...spec.servers.map((s) => block('SVRNODE', s)),
    ...spec.slaves.map((s) => block('SLVNODE', s)),
    ...(spec.k2hdkc ? [block('K2HDKC', spec.k2hdkc)] : []),
  ];
  return `${blocks.join('\n\n')}\n`;
}
