import { type Expr, loadTemplate, type Node, type Value } from './parse';

/**
 * Executing a loaded K2HR3 template with a variable map, with the value rules of K2HR3's engine
 * (k2hr3_api `k2hr3template.ts`, the result class and the condition formula), stated here in
 * our own words:
 * - truth: null is false; a boolean is itself; a number, or a string that reads as a decimal
 *   number, is true when not 0; another string when not empty; arrays and objects are true;
 * - `==`: null equals null and anything false; a boolean equals anything of the same truth; a
 *   number (or numeric string) equals the same number, or a boolean/null of the same truth, and
 *   never a non-numeric string; two other strings compare exactly (case-sensitive);
 * - a variable the map does not have is null (and is created as null); `%v%{k}` / `%v%[i]` of a
 *   missing or null member is null; `.length` is the element or key count, 0 for scalars, null
 *   for a variable the map does not have;
 * - `{{= }}` prints null as nothing, other values as JavaScript's String() does;
 * - `foreach %k% in %v%` binds %k% to each key (array positions as strings) of an array or
 *   object in its order, skipping none but undefined members; anything else runs the body 0 times.
 */

export class TemplateRunError extends Error {
  constructor(message: string) {
    super(`K2HR3 template failed to execute: ${message}`);
    this.name = 'TemplateRunError';
  }
}

export type Variables = Record<string, Value>;

const NUMERIC = /^[+-]?(?:\d+|\d*\.\d+)(?:[eE][+-]?\d+)?$/;

function isNumeric(v: Value): boolean {
  if (typeof v === 'number') return Number.isFinite(v);
  return typeof v === 'string' && NUMERIC.test(v.trim()) && Number.isFinite(Number(v.trim()));
}

/** The number a numeric value stands for. */
function num(v: Value): number {
  return Number(typeof v === 'string' ? v.trim() : v);
}

function isObject(v: Value): v is { [key: string]: Value } {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The condition a value stands for. */
export function truth(v: Value): boolean {
  if (v === null) return false;
  if (typeof v === 'boolean') return v;
  if (isNumeric(v)) return num(v) !== 0;
  if (typeof v === 'string') return v.length > 0;
  return true;
}

/** The engine's `==`. */
export function same(left: Value, right: Value): boolean {
  if (left === null) return right === null || !truth(right);
  if (typeof left === 'boolean') return left === truth(right);
  if (isNumeric(left)) {
    if (right === null || typeof right === 'boolean') return truth(left) === (right === null ? false : right);
    if (isNumeric(right)) return num(left) === num(right);
    return false;
  }
  if (typeof left === 'string') {
    if (typeof right === 'boolean') return truth(left) === right;
    return typeof right === 'string' && left === right;
  }
  return left === right;
}

function printed(v: Value): string {
  return v === null ? '' : String(v);
}

function evaluate(e: Expr, vars: Variables): Value {
  switch (e.kind) {
    case 'literal':
      return e.value;
    case 'not':
      return !truth(evaluate(e.operand, vars));
    case 'binary': {
      if (e.op === '&&') return truth(evaluate(e.left, vars)) && truth(evaluate(e.right, vars));
      if (e.op === '||') return truth(evaluate(e.left, vars)) || truth(evaluate(e.right, vars));
      const l = evaluate(e.left, vars);
      const r = evaluate(e.right, vars);
      if (e.op === '==') return same(l, r);
      if (e.op === '!=') return !same(l, r);
      if (!isNumeric(l) || !isNumeric(r)) throw new TemplateRunError(`${e.op} needs two numbers, got ${JSON.stringify(l)} and ${JSON.stringify(r)}`);
      const a = num(l);
      const b = num(r);
      return e.op === '<' ? a < b : e.op === '>' ? a > b : e.op === '<=' ? a <= b : a >= b;
    }
    case 'variable': {
      if (!Object.prototype.hasOwnProperty.call(vars, e.name) || vars[e.name] === undefined) {
        vars[e.name] = null;
        return null;
      }
      const target = vars[e.name] as Value;
      if (e.length) return Array.isArray(target) ? target.length : isObject(target) ? Object.keys(target).length : 0;
      if (!e.index) return target;
      const index = evaluate(e.index, vars);
      if (index === null || typeof index === 'boolean' || index === '' || typeof index === 'object') {
        throw new TemplateRunError(`index of %${e.name}% is ${JSON.stringify(index)}`);
      }
      let member: Value | undefined;
      if (Array.isArray(target)) member = isNumeric(index) ? target[Number(index)] : undefined;
      else if (isObject(target)) member = Object.prototype.hasOwnProperty.call(target, String(index)) ? target[String(index)] : undefined;
      return member === undefined ? null : member;
    }
  }
}

function run(nodes: readonly Node[], vars: Variables, out: string[]): void {
  for (const n of nodes) {
    switch (n.kind) {
      case 'text':
        out.push(n.text);
        break;
      case 'print':
        out.push(printed(evaluate(n.expr, vars)));
        break;
      case 'assign':
        vars[n.name] = evaluate(n.expr, vars);
        break;
      case 'if': {
        const branch = n.branches.find((b) => truth(evaluate(b.cond, vars)));
        if (branch) run(branch.body, vars, out);
        else if (n.otherwise) run(n.otherwise, vars, out);
        break;
      }
      case 'foreach': {
        const collection = evaluate(n.collection, vars);
        if (!Array.isArray(collection) && !isObject(collection)) break;
        for (const key of Object.keys(collection)) {
          const member = Array.isArray(collection) ? collection[Number(key)] : collection[key];
          if (member === undefined) continue;
          vars[n.loopVar] = key;
          run(n.body, vars, out);
        }
        break;
      }
    }
  }
}

/** Executes loaded nodes; `vars` is copied, never changed. Throws TemplateRunError. */
export function executeTemplate(nodes: readonly Node[], vars: Readonly<Variables>): string {
  const out: string[] = [];
  run(nodes, { ...vars }, out);
  return out.join('');
}

/** Load + execute in one call (tests). Throws TemplateLoadError or TemplateRunError. */
export function expandTemplate(text: string, vars: Readonly<Variables>): string {
  return executeTemplate(loadTemplate(text), vars);
}
