import type { CallContext, MethodEntry } from '../../rpc/types';
import { precompiledValidator } from '../../validation/validators';

/**
 * One row of the method table. `args` have passed `schema` before the handler runs (src/rpc
 * dispatcher); the validator generated from it at build time, when there is one, spares the
 * agent loading ajv.
 */
export function entry<A>(name: string, schema: Readonly<Record<string, unknown>>, handler: (args: A, call: CallContext) => unknown): MethodEntry {
  return { name, schema, validate: precompiledValidator(schema), handler: (args, call) => handler(args as A, call) };
}
