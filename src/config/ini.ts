/** One `key = value` as found in a file, with where it came from (for error messages). */
export interface IniEntry {
  readonly file: string;
  readonly line: number;
  readonly section: string;
  readonly key: string;
  readonly value: string;
}

/** Thrown for a line the parser cannot read; load.ts wraps it in a ConfigError. */
export class IniSyntaxError extends Error {}

const SECTION = /^\[([^\]]+)\]\s*$/;
const ASSIGNMENT = /^([^=:\s][^=:]*?)\s*[=:]\s?(.*)$/;

/**
 * Parses an oslo.config style INI file: `[section]` headers, `key = value` or `key: value`,
 * `#`/`;` comment lines, indented continuation lines appended with a newline, and one pair of
 * matching quotes around a value removed (as oslo.config's iniparser does).
 */
export function parseIni(text: string, file: string): IniEntry[] {
  const entries: Array<{ file: string; line: number; section: string; key: string; value: string }> = [];
  let section: string | null = null;
  // Only a line right after an entry (or its continuation) can continue it.
  let continuable = false;
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const lineNo = index + 1;
    if (raw.trim() === '' || /^\s*[#;]/.test(raw)) return;
    const last = entries[entries.length - 1];
    if (/^\s/.test(raw) && continuable && last !== undefined) {
      last.value = `${last.value}\n${unquote(raw.trim())}`.trim();
      return;
    }
    const header = SECTION.exec(raw.trim());
    if (header?.[1] !== undefined) {
      section = header[1].trim();
      continuable = false;
      return;
    }
    const pair = ASSIGNMENT.exec(raw.trim());
    if (pair?.[1] === undefined) {
      throw new IniSyntaxError(`${file}:${lineNo}: cannot parse line (expected [section] or key = value)`);
    }
    if (section === null) {
      throw new IniSyntaxError(`${file}:${lineNo}: key '${pair[1]}' appears before any [section] header`);
    }
    entries.push({ file, line: lineNo, section, key: pair[1].trim(), value: unquote((pair[2] ?? '').trim()) });
    continuable = true;
  });
  return entries;
}

function unquote(value: string): string {
  const first = value[0];
  if (value.length >= 2 && (first === '"' || first === "'") && value[value.length - 1] === first) {
    return value.slice(1, -1);
  }
  return value;
}
