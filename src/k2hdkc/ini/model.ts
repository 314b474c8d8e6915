/**
 * The CHMPX/K2HDKC INI as the agent sees it (spec/k2hr3-chmpx-k2hdkc.md §4): every line kept
 * (comments, blank lines, unknown sections and keys) so a file renders back byte for byte, plus
 * typed views of [GLOBAL], the repeated [SVRNODE]/[SLVNODE] sections and [K2HDKC].
 */

/** Which list a node's own entry is in: a server runs chmpx SERVER + k2hdkc, a slave chmpx SLAVE. */
export type NodeRole = 'server' | 'slave';

/** A `KEY = VALUE` line. `key`/`value` are what chmpx extracts (trimmed, quotes and ` #...` removed). */
export interface IniEntry {
  readonly kind: 'entry';
  key: string;
  value: string;
  /** The line as read; rendered unchanged while key and value still equal `parsed`. */
  readonly raw: string;
  readonly parsed: { readonly key: string; readonly value: string };
  readonly lineNo: number;
  /** Set when chmpx could not extract the value (unbalanced quote, dangling backslash). */
  readonly problem?: string;
}

/** Any other line: blank, `#` comment, `INCLUDE <file>`, or text outside a section. */
export interface IniTextLine {
  readonly kind: 'blank' | 'comment' | 'include' | 'text';
  readonly raw: string;
  readonly lineNo: number;
}

export type IniLine = IniEntry | IniTextLine;

/** One `[NAME]` section and the lines up to the next header. */
export interface IniSection {
  /** Text between the brackets, as written (chmpx matches `[GLOBAL]` etc. exactly). */
  readonly name: string;
  readonly header: string;
  readonly lineNo: number;
  readonly lines: IniLine[];
}

/** [GLOBAL] values the agent reasons about; `values` has every key (last one wins, as in chmpx). */
export interface GlobalConfig {
  readonly group: string | undefined;
  readonly fileVersion: string | undefined;
  readonly mode: string | undefined;
  readonly chmpxIdType: string | undefined;
  readonly deliverMode: string | undefined;
  readonly port: number | undefined;
  readonly ctlport: number | undefined;
  readonly selfCtlport: number | undefined;
  readonly selfCuk: string | undefined;
  readonly replica: number | undefined;
  /** undefined when absent: chmpx then defaults to ON, which k2hdkc cannot work with. */
  readonly mqack: boolean | undefined;
  readonly autoMerge: boolean | undefined;
  readonly doMerge: boolean | undefined;
  readonly values: Readonly<Record<string, string>>;
}

/** One [SVRNODE] or [SLVNODE]; ports fall back to GLOBAL PORT/CTLPORT as chmpx does. */
export interface NodeConfig {
  readonly kind: NodeRole;
  /** Position among sections of the same kind, from 1, for messages ("[SVRNODE] #2"). */
  readonly ordinal: number;
  readonly name: string | undefined;
  readonly port: number | undefined;
  readonly ctlport: number | undefined;
  readonly cuk: string | undefined;
  readonly customIdSeed: string | undefined;
  readonly values: Readonly<Record<string, string>>;
  readonly section: IniSection;
}

/** [K2HDKC] (server nodes; read by the k2hdkc process only). */
export interface K2hdkcConfig {
  readonly k2hType: string | undefined;
  readonly k2hFile: string | undefined;
  readonly k2hInit: boolean | undefined;
  readonly values: Readonly<Record<string, string>>;
  readonly section: IniSection;
}

/** A parsed INI: the lossless line model plus typed views (servers and slaves in file order). */
export interface ChmpxIni {
  /** Lines before the first section header (chmpx ignores them). */
  readonly preamble: IniLine[];
  readonly sections: IniSection[];
  readonly global: GlobalConfig | undefined;
  readonly servers: readonly NodeConfig[];
  readonly slaves: readonly NodeConfig[];
  readonly k2hdkc: K2hdkcConfig | undefined;
}

export const SECTION = {
  GLOBAL: 'GLOBAL',
  SVRNODE: 'SVRNODE',
  SLVNODE: 'SLVNODE',
  K2HDKC: 'K2HDKC',
} as const;
