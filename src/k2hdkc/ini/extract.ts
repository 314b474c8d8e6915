/**
 * How chmpx turns the text after `=` into a value (CHMPX lib/chmconfutil.cc extract_conf_value,
 * read for facts only): trim; '…' and "…" quote (quotes removed); a backslash escapes outside
 * single quotes; `#` starts a comment only after whitespace (`a#b` stays `a#b`). Returns
 * undefined where chmpx reports "could not extract" (unbalanced quote or trailing backslash).
 */
export function extractIniValue(text: string): string | undefined {
  let out = '';
  let single = false;
  let double = false;
  let escaped = false;
  let afterSpace = false;
  for (const ch of text.trim()) {
    if (single) {
      if (ch === "'") single = false;
      else out += ch;
      continue;
    }
    if (ch === '\\') {
      if (escaped) {
        out += ch;
        escaped = false;
      } else escaped = true;
      continue;
    }
    if (double) {
      if (ch === '"' && !escaped) double = false;
      else out += (escaped && ch !== '"' ? '\\' : '') + ch;
      escaped = false;
      continue;
    }
    if (ch === '"' || ch === "'") {
      if (escaped) out += ch;
      else if (ch === '"') double = true;
      else single = true;
      escaped = false;
      continue;
    }
    if (ch === '#' && afterSpace && !escaped) break;
    out += ch;
    afterSpace = /\s/.test(ch);
    escaped = false;
  }
  if (single || double || escaped) return undefined;
  return out.trim();
}

/** Quotes a value for writing when chmpx would otherwise change it (comment marker, quotes, edges). */
export function quoteIniValue(value: string): string {
  if (value === '' || (!/[\s#"'\\]/.test(value) && value === value.trim())) return value;
  if (!value.includes("'")) return `'${value}'`;
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}
