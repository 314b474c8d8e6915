/**
 * Loading a K2HR3 template (spec §2, §10): the text is cut into static text and `{{ ... }}`
 * statements, each statement into tokens, and the statements into a tree of blocks. Written from
 * the language as K2HR3's engine and its test corpus define it (k2hr3_api `k2hr3template.ts`,
 * `tests/k2hr3template_test_template.*`); only the part the DBaaS template can use is
 * implemented, and anything else is refused at load time, so a template that would behave
 * differently in the real engine fails here instead of expanding to something plausible.
 *
 * Rules kept from the real engine:
 * - an optional first line `{{#!k2hr3template }}` (engine name case-insensitive) is removed
 *   together with every line feed that follows it; another engine name fails the load;
 * - static text is kept byte for byte: a statement on a line of its own leaves its line feed;
 * - `{{# ... }}` is a comment (may span lines), `{{= expr }}` prints, other statements are
 *   `if/elif/else/endif`, `foreach %k% in %v%` ... `done`, and `%v% = expr`;
 * - a quoted string is a string only when it has something between its quotes: `''` and `""`
 *   fail the load (the real engine: "any template class is not matched");
 * - `null`, `true`, `false` (any letter case), decimal and 0x/0o/0b numbers;
 * - variables `%name%` (any characters but `%` and white space, so full YRNs work), with one
 *   `{index}` / `[index]` or `.length` / `.size` / `.count`.
 */

export class TemplateLoadError extends Error {
  constructor(message: string) {
    super(`K2HR3 template does not load: ${message}`);
    this.name = 'TemplateLoadError';
  }
}

export type Value = null | boolean | number | string | Value[] | { [key: string]: Value };

export type Expr =
  | { kind: 'literal'; value: Value }
  | { kind: 'variable'; name: string; index: Expr | null; length: boolean }
  | { kind: 'not'; operand: Expr }
  | { kind: 'binary'; op: BinaryOp; left: Expr; right: Expr };

export type BinaryOp = '==' | '!=' | '<' | '>' | '<=' | '>=' | '&&' | '||';

export type Node =
  | { kind: 'text'; text: string }
  | { kind: 'print'; expr: Expr }
  | { kind: 'assign'; name: string; expr: Expr }
  | { kind: 'if'; branches: { cond: Expr; body: Node[] }[]; otherwise: Node[] | null }
  | { kind: 'foreach'; loopVar: string; collection: Expr; body: Node[] };

const ENGINE_LINE = /^\{\{#!(.*?)[ \t]*\}\}[\r\n]*/;

/** Removes the engine line; throws when it names another engine. */
function stripEngineLine(text: string): string {
  const m = ENGINE_LINE.exec(text);
  if (!m) return text;
  const engine = (m[1] ?? '').toLowerCase();
  if (engine !== 'k2hr3template' && engine !== 'k2hr3template.js') throw new TemplateLoadError(`engine ${JSON.stringify(m[1])} is not k2hr3template`);
  return text.slice(m[0].length);
}

type Segment = { statement: false; text: string } | { statement: true; text: string };

/** Static text and statement bodies (trimmed), in order. */
function segments(text: string): Segment[] {
  const out: Segment[] = [];
  let rest = text;
  while (rest.length > 0) {
    const open = rest.indexOf('{{');
    if (open === -1) {
      if (rest.includes('}}}')) throw new TemplateLoadError('escaped braces ({{{ }}}) are not supported by this double');
      out.push({ statement: false, text: rest });
      break;
    }
    if (rest.startsWith('{{{', open) || rest.slice(0, open).includes('}}}')) {
      throw new TemplateLoadError('escaped braces ({{{ }}}) are not supported by this double');
    }
    if (open > 0) out.push({ statement: false, text: rest.slice(0, open) });
    const close = rest.indexOf('}}', open + 2);
    if (close === -1) throw new TemplateLoadError(`statement ${JSON.stringify(rest.slice(open, open + 40))} has no closing }}`);
    if (rest.startsWith('}}}', close)) throw new TemplateLoadError('escaped braces ({{{ }}}) are not supported by this double');
    out.push({ statement: true, text: rest.slice(open + 2, close).trim() });
    rest = rest.slice(close + 2);
  }
  return out;
}

type Token =
  | { t: 'var'; name: string }
  | { t: 'str'; value: string }
  | { t: 'num'; value: number }
  | { t: 'word'; value: string }
  | { t: 'op'; value: string };

const OPERATORS = ['==', '!=', '<=', '>=', '&&', '||', '<', '>', '!', '=', '{', '}', '[', ']', '(', ')'];
const LENGTH_WORDS = ['.length', '.size', '.count'];
const UNSUPPORTED_WORDS = new Set(['for', 'while', 'do', 'break', 'continue']);

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] as string;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "'" || c === '"') {
      const end = src.indexOf(c, i + 1);
      if (end === -1) throw new TemplateLoadError(`unterminated string in ${JSON.stringify(src)}`);
      const value = src.slice(i + 1, end);
      if (value === '') throw new TemplateLoadError(`${c}${c} in ${JSON.stringify(src)}: K2HR3 templates have no empty string literal (test presence with {{ if %x% }})`);
      if (value.includes('\\')) throw new TemplateLoadError('escapes in strings are not supported by this double');
      tokens.push({ t: 'str', value });
      i = end + 1;
      continue;
    }
    if (c === '%') {
      const end = src.indexOf('%', i + 1);
      const name = end === -1 ? '' : src.slice(i + 1, end);
      if (end === -1 || name === '' || /\s/.test(name)) throw new TemplateLoadError(`the % operator is not supported by this double (${JSON.stringify(src)})`);
      tokens.push({ t: 'var', name });
      i = end + 1;
      continue;
    }
    const lengthWord = LENGTH_WORDS.find((w) => src.startsWith(w, i));
    if (lengthWord) {
      tokens.push({ t: 'op', value: '.length' });
      i += lengthWord.length;
      continue;
    }
    const num = /^(0x[0-9a-fA-F]+|0o[0-7]+|0b[01]+|[0-9]+)/.exec(src.slice(i));
    if (num) {
      const text = num[1] as string;
      const value = text.startsWith('0o') ? parseInt(text.slice(2), 8) : text.startsWith('0b') ? parseInt(text.slice(2), 2) : Number(text);
      tokens.push({ t: 'num', value });
      i += text.length;
      continue;
    }
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
    if (word) {
      tokens.push({ t: 'word', value: word[0] });
      i += word[0].length;
      continue;
    }
    const op = OPERATORS.find((o) => src.startsWith(o, i));
    if (!op) throw new TemplateLoadError(`${JSON.stringify(c)} in ${JSON.stringify(src)} is not supported by this double`);
    tokens.push({ t: 'op', value: op });
    i += op.length;
  }
  return tokens;
}

/** Recursive-descent expression parser over one statement's tokens. */
class ExprParser {
  private pos = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly src: string,
  ) {}

  atEnd(): boolean {
    return this.pos >= this.tokens.length;
  }

  peek(): Token | undefined {
    return this.tokens[this.pos];
  }

  next(): Token {
    const tok = this.tokens[this.pos++];
    if (!tok) throw new TemplateLoadError(`statement ${JSON.stringify(this.src)} ends too early`);
    return tok;
  }

  isOp(value: string): boolean {
    const tok = this.peek();
    return tok?.t === 'op' && tok.value === value;
  }

  expect(value: string): void {
    if (!this.isOp(value)) throw new TemplateLoadError(`expected ${value} in ${JSON.stringify(this.src)}`);
    this.pos++;
  }

  expression(): Expr {
    let left = this.conjunction();
    while (this.isOp('||')) {
      this.pos++;
      left = { kind: 'binary', op: '||', left, right: this.conjunction() };
    }
    return left;
  }

  private conjunction(): Expr {
    let left = this.comparison();
    while (this.isOp('&&')) {
      this.pos++;
      left = { kind: 'binary', op: '&&', left, right: this.comparison() };
    }
    return left;
  }

  private comparison(): Expr {
    const left = this.unary();
    const tok = this.peek();
    if (tok?.t === 'op' && ['==', '!=', '<', '>', '<=', '>='].includes(tok.value)) {
      this.pos++;
      return { kind: 'binary', op: tok.value as BinaryOp, left, right: this.unary() };
    }
    return left;
  }

  private unary(): Expr {
    if (this.isOp('!')) {
      this.pos++;
      return { kind: 'not', operand: this.unary() };
    }
    return this.primary();
  }

  private primary(): Expr {
    const tok = this.next();
    if (tok.t === 'str' || tok.t === 'num') return { kind: 'literal', value: tok.value };
    if (tok.t === 'var') return this.variableRest(tok.name);
    if (tok.t === 'word') {
      const w = tok.value.toLowerCase();
      if (w === 'null') return { kind: 'literal', value: null };
      if (w === 'true') return { kind: 'literal', value: true };
      if (w === 'false') return { kind: 'literal', value: false };
      throw new TemplateLoadError(`${JSON.stringify(tok.value)} is not a value in ${JSON.stringify(this.src)}`);
    }
    if (tok.value === '(') {
      const inner = this.expression();
      this.expect(')');
      return inner;
    }
    throw new TemplateLoadError(`unexpected ${JSON.stringify(tok.value)} in ${JSON.stringify(this.src)}`);
  }

  private variableRest(name: string): Expr {
    if (this.isOp('.length')) {
      this.pos++;
      return { kind: 'variable', name, index: null, length: true };
    }
    for (const [open, close] of [['{', '}'], ['[', ']']] as const) {
      if (!this.isOp(open)) continue;
      this.pos++;
      const index = this.expression();
      this.expect(close);
      if (this.isOp('{') || this.isOp('[') || this.isOp('.length')) throw new TemplateLoadError(`more than one index on %${name}% is not supported by this double`);
      return { kind: 'variable', name, index, length: false };
    }
    return { kind: 'variable', name, index: null, length: false };
  }
}

type Frame =
  | { kind: 'root'; body: Node[] }
  | { kind: 'if'; node: Extract<Node, { kind: 'if' }>; body: Node[]; sawElse: boolean }
  | { kind: 'foreach'; node: Extract<Node, { kind: 'foreach' }>; body: Node[] };

/** Loads a template into its node tree; throws TemplateLoadError. */
export function loadTemplate(text: string): Node[] {
  const root: Frame = { kind: 'root', body: [] };
  const stack: Frame[] = [root];
  const top = (): Frame => stack[stack.length - 1] as Frame;
  for (const seg of segments(stripEngineLine(text))) {
    if (!seg.statement) {
      top().body.push({ kind: 'text', text: seg.text });
      continue;
    }
    const src = seg.text;
    if (src.startsWith('#')) continue;
    if (src.startsWith('=')) {
      const p = new ExprParser(tokenize(src.slice(1)), src);
      const expr = p.expression();
      if (!p.atEnd()) throw new TemplateLoadError(`trailing tokens in ${JSON.stringify(src)}`);
      top().body.push({ kind: 'print', expr });
      continue;
    }
    const tokens = tokenize(src);
    const first = tokens[0];
    if (!first) throw new TemplateLoadError('empty statement {{ }}');
    const p = new ExprParser(tokens.slice(1), src);
    const done = (): void => {
      if (!p.atEnd()) throw new TemplateLoadError(`trailing tokens in ${JSON.stringify(src)}`);
    };
    if (first.t === 'word' && UNSUPPORTED_WORDS.has(first.value)) throw new TemplateLoadError(`${first.value} is not supported by this double`);
    if (first.t === 'word' && first.value === 'if') {
      const node: Extract<Node, { kind: 'if' }> = { kind: 'if', branches: [], otherwise: null };
      const body: Node[] = [];
      node.branches.push({ cond: p.expression(), body });
      done();
      top().body.push(node);
      stack.push({ kind: 'if', node, body, sawElse: false });
    } else if (first.t === 'word' && (first.value === 'elif' || first.value === 'else' || first.value === 'endif')) {
      const frame = top();
      if (frame.kind !== 'if') throw new TemplateLoadError(`${first.value} without if`);
      if (first.value === 'endif') {
        done();
        stack.pop();
        continue;
      }
      if (frame.sawElse) throw new TemplateLoadError(`${first.value} after else`);
      const body: Node[] = [];
      if (first.value === 'elif') {
        frame.node.branches.push({ cond: p.expression(), body });
      } else {
        frame.node.otherwise = body;
        frame.sawElse = true;
      }
      done();
      frame.body = body;
    } else if (first.t === 'word' && first.value === 'foreach') {
      const loopVar = p.next();
      if (loopVar.t !== 'var') throw new TemplateLoadError(`foreach needs %variable% in ${JSON.stringify(src)}`);
      const inWord = p.next();
      if (inWord.t !== 'word' || inWord.value !== 'in') throw new TemplateLoadError(`foreach needs "in" in ${JSON.stringify(src)}`);
      const collection = p.expression();
      if (collection.kind !== 'variable' || collection.length) throw new TemplateLoadError(`foreach needs a variable to walk in ${JSON.stringify(src)}`);
      done();
      const node: Extract<Node, { kind: 'foreach' }> = { kind: 'foreach', loopVar: loopVar.name, collection, body: [] };
      top().body.push(node);
      stack.push({ kind: 'foreach', node, body: node.body });
    } else if (first.t === 'word' && first.value === 'done') {
      done();
      if (top().kind !== 'foreach') throw new TemplateLoadError('done without foreach');
      stack.pop();
    } else if (first.t === 'var' && tokens[1]?.t === 'op' && tokens[1].value === '=') {
      const q = new ExprParser(tokens.slice(2), src);
      const expr = q.expression();
      if (!q.atEnd()) throw new TemplateLoadError(`trailing tokens in ${JSON.stringify(src)}`);
      top().body.push({ kind: 'assign', name: first.name, expr });
    } else {
      throw new TemplateLoadError(`statement ${JSON.stringify(src)} is not supported by this double`);
    }
  }
  if (stack.length !== 1) throw new TemplateLoadError(`${top().kind} is not closed`);
  return root.body;
}

/** Every variable name the template mentions (what the server resolves before executing). */
export function variableNames(nodes: readonly Node[]): string[] {
  const names = new Set<string>();
  const expr = (e: Expr): void => {
    if (e.kind === 'variable') {
      names.add(e.name);
      if (e.index) expr(e.index);
    } else if (e.kind === 'not') expr(e.operand);
    else if (e.kind === 'binary') {
      expr(e.left);
      expr(e.right);
    }
  };
  const walk = (list: readonly Node[]): void => {
    for (const n of list) {
      if (n.kind === 'print') expr(n.expr);
      else if (n.kind === 'assign') {
        names.add(n.name);
        expr(n.expr);
      } else if (n.kind === 'if') {
        for (const b of n.branches) {
          expr(b.cond);
          walk(b.body);
        }
        if (n.otherwise) walk(n.otherwise);
      } else if (n.kind === 'foreach') {
        names.add(n.loopVar);
        expr(n.collection);
        walk(n.body);
      }
    }
  };
  walk(nodes);
  return [...names];
}
