import Ajv from 'ajv';
import type { CallContext, MethodEntry } from '../../../../src/rpc/types';
import { captureLogger } from '../../conductor/recording-caster';

/** The context the dispatcher gives a handler for a `call` of `method` (never aborted). */
export function call(method: string): CallContext {
  const { log } = captureLogger();
  return { method, kind: 'call', msgId: 'm1', context: {}, log, signal: new AbortController().signal };
}

/** Validates `args` against the entry's schema like the dispatcher does, then runs the handler. */
export async function invoke(entry: MethodEntry | undefined, args: Record<string, unknown>): Promise<unknown> {
  if (entry === undefined) throw new Error('method missing');
  const validate = new Ajv({ strict: true }).compile(entry.schema);
  if (!validate(args)) throw new Error(`invalid: ${JSON.stringify(validate.errors)}`);
  return entry.handler(args, call(entry.name));
}
