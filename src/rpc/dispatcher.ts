import type { ErrorObject, Options } from 'ajv';
import { AgentError, InvalidArgumentsError, NoSuchMethodError, UnsupportedVersionError } from '../errors';
import { compileValidator } from '../validation/validators';
import type { ArgsValidator, CallContext, MethodEntry, MethodTable, Serializer } from './types';

/**
 * Looks a request up in the method table, checks its version and args, and calls the handler
 * (oslo_messaging/rpc/dispatcher.py's job). It knows no method names and nothing of AMQP.
 */

/** The version the guest serves: Trove 18's API_LATEST_VERSION (spec §8). */
export const SERVED_VERSION = { major: 1, minor: 1 } as const;

const VERSION_PATTERN = /^(\d+)\.(\d+)(?:\.(\d+))?$/;

/**
 * oslo's version_is_compatible against the served 1.1: same major, minor not above ours.
 * Throws UnsupportedVersionError; a non-string or malformed version is unsupported too.
 */
export function checkVersion(version: unknown, method: string): void {
  const text = typeof version === 'string' ? version : String(JSON.stringify(version));
  const match = typeof version === 'string' ? VERSION_PATTERN.exec(version) : null;
  const major = Number(match?.[1]);
  const minor = Number(match?.[2]);
  if (match === null || major !== SERVED_VERSION.major || minor > SERVED_VERSION.minor) {
    throw new UnsupportedVersionError(text.slice(0, 64), method.slice(0, 128));
  }
}

interface CompiledEntry {
  readonly entry: MethodEntry;
  readonly validate: ArgsValidator;
}

// allErrors false: stop at the first error (cheaper, and one message is what we report);
// coerceTypes false: a string where an int belongs is the caller's bug, not ours to fix.
const AJV_OPTIONS: Options = { allErrors: false, coerceTypes: false, useDefaults: false };

/** What the dispatcher needs from a decoded request. */
export interface DispatchRequest {
  readonly method: string;
  readonly version: unknown;
  /** Serialized kwargs straight off the wire. */
  readonly args: unknown;
}

function describeError(error: ErrorObject | undefined): string {
  if (error === undefined) return 'they do not match the method schema';
  // instancePath is `/field/0`; quote the field, never the value (it may be a password).
  const where = error.instancePath === '' ? 'args' : error.instancePath.slice(1).replace(/\//g, '.');
  const extra =
    error.keyword === 'additionalProperties' && typeof error.params['additionalProperty'] === 'string'
      ? ` (${error.params['additionalProperty'].slice(0, 64)})`
      : '';
  return `${where} ${error.message ?? 'is invalid'}${extra}`;
}

export class Dispatcher {
  private readonly entries = new Map<string, CompiledEntry>();

  /**
   * Compiles every schema once (unless the entry brings its validator already compiled, and then
   * ajv is not even loaded); a bad schema or a duplicate name throws here, at start-up.
   */
  constructor(
    methods: MethodTable,
    private readonly serializer: Serializer,
  ) {
    for (const entry of methods) {
      if (this.entries.has(entry.name)) {
        throw new AgentError('K2H_ERR_METHOD_TABLE', `method ${entry.name} is registered twice`);
      }
      this.entries.set(entry.name, { entry, validate: entry.validate ?? compileValidator(entry.schema, AJV_OPTIONS) });
    }
  }

  /** Names served, for logs and tests. */
  get methodNames(): readonly string[] {
    return [...this.entries.keys()];
  }

  /**
   * Checks version, name and args, in oslo's order (a bad version wins over an unknown name),
   * and returns the handler's args already deserialized and validated.
   * Throws UnsupportedVersionError, NoSuchMethodError, InvalidArgumentsError, MessageFormatError.
   */
  resolve(request: DispatchRequest): { entry: MethodEntry; args: Record<string, unknown> } {
    checkVersion(request.version, request.method);
    // DefaultRPCAccessPolicy hides `_`-prefixed names; also never match Object.prototype keys.
    const compiled = request.method.startsWith('_') ? undefined : this.entries.get(request.method);
    if (compiled === undefined) throw new NoSuchMethodError(request.method.slice(0, 128));
    const raw = request.args;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      throw new InvalidArgumentsError(`Invalid arguments for RPC method ${request.method}: args is not an object`);
    }
    // Each kwarg is serialized on its own (encrypted with secure RPC), so it is decoded on its
    // own, before validation: the schema describes the plain values.
    // fromEntries defines own properties, so a `__proto__` key cannot reach the prototype.
    const args: Record<string, unknown> = Object.fromEntries(
      Object.entries(raw as Record<string, unknown>).map(([name, value]) => [
        name,
        this.serializer.deserializeEntity(value),
      ]),
    );
    if (!compiled.validate(args)) {
      throw new InvalidArgumentsError(
        `Invalid arguments for RPC method ${request.method}: ${describeError(compiled.validate.errors?.[0])}`,
      );
    }
    return { entry: compiled.entry, args };
  }

  /** resolve() then runs the handler; a synchronous throw becomes a rejection. */
  async dispatch(request: DispatchRequest, call: CallContext): Promise<unknown> {
    const { entry, args } = this.resolve(request);
    return await entry.handler(args, call);
  }
}
