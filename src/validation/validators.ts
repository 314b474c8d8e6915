import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Options, ValidateFunction } from 'ajv';

/**
 * JSON-schema validators without ajv's compiler at run time.
 *
 * `npm run build` runs src/validation/generate.ts, which compiles every schema the agent uses
 * into plain JavaScript (ajv's standalone code) under dist/src/validation/generated/. Loading
 * ajv itself costs the agent ~5-8 MiB of RSS (its compiler, code generator and the schema
 * compilation), the generated functions almost nothing, and issue 2 caps the agent's RSS.
 *
 * Generated validators are found by the JSON text of the schema they were built from, so a
 * schema edited after the build, or code run from src/ (vitest, where nothing is generated),
 * simply finds none and the caller compiles with ajv as before: same result, more memory.
 */

/** Where generate.ts writes; next to this file once compiled (dist/src/validation/generated). */
export const GENERATED_DIR = join(__dirname, 'generated');
/** The generated index: `[schema JSON, module file name]` pairs. */
export const INDEX_FILE = 'index.json';

/**
 * The ajv options the generated code is compiled with, and config/load.ts's when nothing was
 * generated. rpc/dispatcher.ts validates the same way (strict mode only changes which schemas
 * ajv accepts, not what they accept): first error only, no coercion, no defaults written.
 */
export const GENERATED_AJV_OPTIONS: Options = { allErrors: false, coerceTypes: false, useDefaults: false, strict: true };

let index: ReadonlyMap<string, string> | undefined;

function loadIndex(dir: string): ReadonlyMap<string, string> {
  let text: string;
  try {
    text = readFileSync(join(dir, INDEX_FILE), 'utf8');
  } catch {
    return new Map();
  }
  return new Map(JSON.parse(text) as [string, string][]);
}

/** The build-time validator for exactly this schema, or undefined when there is none. */
export function precompiledValidator(schema: unknown, dir: string = GENERATED_DIR): ValidateFunction | undefined {
  const files = dir === GENERATED_DIR ? (index ??= loadIndex(dir)) : loadIndex(dir);
  const file = files.get(JSON.stringify(schema));
  if (file === undefined) return undefined;
  return (require(join(dir, file)) as { default: ValidateFunction }).default;
}

/** One ajv instance per options object: the schemas of one table share it, as they did before. */
const compilers = new WeakMap<Options, import('ajv').default>();

/**
 * Compiles with ajv, loading it only now: a build-time validator was missing, or the schema
 * came from a method table built without them. Throws on an invalid schema, as ajv does.
 */
export function compileValidator(schema: Readonly<Record<string, unknown>>, options: Options): ValidateFunction {
  let ajv = compilers.get(options);
  if (ajv === undefined) {
    // A require here rather than an import: an import would load ajv along with this module.
    const { default: Ajv } = require('ajv') as typeof import('ajv');
    compilers.set(options, (ajv = new Ajv(options)));
  }
  return ajv.compile(schema);
}
