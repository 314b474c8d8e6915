import { CtlportError } from '../../errors';
import { parseStatusWord, type ChmpxStatus } from './status-word';

/** SELFSTATUS of one chmpx (k2hdkc-observed.md "SELFSTATUS"; spec §5.4). */
export interface SelfStatus {
  readonly serverName: string;
  readonly internalId: string | undefined;
  readonly ringName: string | undefined;
  readonly mode: 'server' | 'slave';
  readonly status: ChmpxStatus;
  readonly port: number | undefined;
  readonly ctlport: number | undefined;
  readonly cuk: string | undefined;
  readonly customIdSeed: string | undefined;
  readonly enableHashValue: string | undefined;
  readonly pendingHashValue: string | undefined;
  /** Every `Label = value` found, nested labels flattened (first occurrence wins). */
  readonly fields: Readonly<Record<string, string>>;
}

/** One `No.<n>` block of ALLSTATUS: a server of the ring, in config order. */
export interface RingServer {
  readonly no: number;
  readonly serverName: string;
  readonly port: number | undefined;
  readonly ctlport: number | undefined;
  readonly cuk: string;
  readonly customIdSeed: string;
  readonly status: ChmpxStatus;
  readonly enableHashValue: string | undefined;
  readonly pendingHashValue: string | undefined;
  readonly fields: Readonly<Record<string, string>>;
}

/** ALLSTATUS: the ring name and its servers (slaves are never listed). */
export interface AllStatus {
  readonly ringName: string | undefined;
  readonly servers: readonly RingServer[];
}

/** Where a reply came from, for error messages. */
export interface ReplySource {
  readonly command: string;
  readonly endpoint: string;
}

/**
 * Throws CtlportError('rejected') when chmpx refused the command: `ERROR: ...`,
 * `INTERNAL ERROR: ...` or `Unknown command(...)` (k2hdkc-observed.md table).
 */
export function assertNotRejected(reply: string, src: ReplySource): void {
  const text = reply.trim();
  if (/^(INTERNAL )?ERROR:/.test(text) || /^Unknown command\(/.test(text)) {
    throw new CtlportError('rejected', `chmpx at ${src.endpoint} refused ${src.command}: ${text}`, { ...src, reply });
  }
}

/** A one-line command reply: `SUCCEED` or `SUCCEED: <note>` is returned trimmed; anything else throws. */
export function parseCommandReply(reply: string, src: ReplySource): string {
  assertNotRejected(reply, src);
  const text = reply.trim();
  if (text === 'SUCCEED' || text.startsWith('SUCCEED:')) return text;
  throw new CtlportError('malformed', `chmpx at ${src.endpoint} gave an unexpected reply to ${src.command}: ${JSON.stringify(text.slice(0, 200))}`, {
    ...src,
    reply,
  });
}

/** Parses a SELFSTATUS reply; throws CtlportError when refused or when the status line is missing. */
export function parseSelfStatus(reply: string, src: ReplySource): SelfStatus {
  assertNotRejected(reply, src);
  const fields: Record<string, string> = {};
  for (const [label, value] of labelledValues(reply)) if (!(label in fields)) fields[label] = value;
  const status = parseStatusWord(fields['Server Status'] ?? '');
  const serverName = fields['Server Name'];
  if (!status || serverName === undefined) throw malformed(reply, src, 'no Server Name or Server Status');
  return {
    serverName,
    internalId: fields['Internal ID'],
    ringName: fields['RING Name'],
    mode: /^slave/i.test(fields.Mode ?? '') || status.ring === 'SLAVE' ? 'slave' : 'server',
    status,
    port: leadingInt(fields['Port(socket)'] ?? fields.Port),
    ctlport: leadingInt(fields['Control Port(socket)'] ?? fields['Control Port']),
    cuk: fields.CUK,
    customIdSeed: fields['Custom ID Seed'],
    enableHashValue: fields['Enable Hash Value'],
    pendingHashValue: fields['Pending Hash Value'],
    fields,
  };
}

/** Parses an ALLSTATUS reply (blocks `No.1`, `No.2`, ... in config order). */
export function parseAllStatus(reply: string, src: ReplySource): AllStatus {
  assertNotRejected(reply, src);
  let ringName: string | undefined;
  const blocks: Array<{ no: number; fields: Record<string, string> }> = [];
  for (const line of reply.split('\n')) {
    const no = /^\s*No\.(\d+)\s*$/.exec(line);
    if (no?.[1]) {
      blocks.push({ no: Number(no[1]), fields: {} });
      continue;
    }
    const kv = splitLabel(line);
    if (!kv) continue;
    const current = blocks[blocks.length - 1];
    if (!current) {
      if (kv[0] === 'RING Name') ringName = kv[1];
    } else if (!(kv[0] in current.fields)) current.fields[kv[0]] = kv[1];
  }
  const servers = blocks.map(({ no, fields }): RingServer => {
    const status = parseStatusWord(fields['Server Status'] ?? '');
    const serverName = fields['Server Name'];
    if (!status || serverName === undefined) throw malformed(reply, src, `block No.${no} has no Server Name or Server Status`);
    return {
      no,
      serverName,
      port: leadingInt(fields.Port),
      ctlport: leadingInt(fields['Control Port']),
      cuk: fields.CUK ?? '',
      customIdSeed: fields['Custom ID Seed'] ?? '',
      status,
      enableHashValue: fields['Enable Hash Value'],
      pendingHashValue: fields['Pending Hash Value'],
      fields,
    };
  });
  if (ringName === undefined && servers.length === 0) throw malformed(reply, src, 'no RING Name and no servers');
  return { ringName, servers };
}

/**
 * Finds a server in ALLSTATUS. `Server Name` repeats when nodes share an address, so match on
 * Control Port + Custom ID Seed (k2hdkc-observed.md), and on the name only when given.
 */
export function findRingServer(
  all: AllStatus,
  key: { readonly ctlport: number; readonly customIdSeed: string; readonly serverName?: string },
): RingServer | undefined {
  return all.servers.find(
    (s) =>
      s.ctlport === key.ctlport &&
      s.customIdSeed === key.customIdSeed &&
      (key.serverName === undefined || s.serverName === key.serverName),
  );
}

function malformed(reply: string, src: ReplySource, why: string): CtlportError {
  return new CtlportError('malformed', `chmpx at ${src.endpoint} gave an unreadable ${src.command} reply (${why})`, {
    ...src,
    reply,
  });
}

/** `Label<padding>= value` → [label, value]; values keep inner `=` (e.g. `Port(socket) = 8020(12)`). */
function splitLabel(line: string): [string, string] | undefined {
  const eq = line.indexOf('=');
  if (eq <= 0) return undefined;
  const label = line.slice(0, eq).trim();
  return label === '' ? undefined : [label, line.slice(eq + 1).trim()];
}

/**
 * Yields every label/value pair of a SELFSTATUS reply, descending into `X = {` blocks and
 * one-line `X = { a = 1 / b = 2 }` groups, so callers need not know the nesting.
 */
function* labelledValues(reply: string): Generator<[string, string]> {
  for (const line of reply.split('\n')) {
    const kv = splitLabel(line);
    if (!kv) continue;
    const [label, value] = kv;
    const inline = /^\{(.*)\}$/.exec(value);
    if (value === '{') continue;
    if (inline?.[1] !== undefined) {
      for (const part of splitTopLevel(inline[1])) {
        const inner = splitLabel(part);
        if (inner && !inner[1].startsWith('{')) yield inner;
      }
      continue;
    }
    yield [label, value];
  }
}

/** Splits `a = 1 / b = { c / d } / e` on ` / ` outside braces. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i += 1) {
    const ch = text[i];
    if (ch === '{') depth += 1;
    else if (ch === '}') depth -= 1;
    else if (ch === '/' && depth === 0 && text[i - 1] === ' ' && text[i + 1] === ' ') {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

function leadingInt(value: string | undefined): number | undefined {
  const m = /^\s*(\d+)/.exec(value ?? '');
  return m?.[1] === undefined ? undefined : Number(m[1]);
}
