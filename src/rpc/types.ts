import type { ErrorObject } from 'ajv';
import type { Logger } from 'pino';

/** A Trove request context as a plain object (decrypted `_context_context` or the flattened keys). */
export type RequestContext = Readonly<Record<string, unknown>>;

/** What a handler gets besides its (already validated) args. */
export interface CallContext {
  readonly method: string;
  /** `call` expects one reply; `cast` gets none and a failure is only logged. */
  readonly kind: 'call' | 'cast';
  readonly msgId: string | null;
  readonly context: RequestContext;
  /** Child logger bound to msgId / method / instanceId. */
  readonly log: Logger;
  /** Aborted when the agent is shutting down and the grace period ran out. */
  readonly signal: AbortSignal;
}

/**
 * One RPC method the guest serves: the table is built outside src/rpc/ (src/guest/methods/)
 * and handed to the server, so the transport never knows a method name.
 */
export interface MethodEntry {
  readonly name: string;
  /** ajv JSON schema of the kwargs object; every handler gets args that passed it. */
  readonly schema: Readonly<Record<string, unknown>>;
  /**
   * `schema` already compiled (e.g. by ajv's standalone code at build time), so the server need
   * not load ajv; it must accept exactly what `schema` accepts. Absent: the dispatcher compiles
   * `schema` with ajv.
   */
  readonly validate?: ArgsValidator;
  readonly handler: (args: Record<string, unknown>, call: CallContext) => unknown;
}

export type MethodTable = readonly MethodEntry[];

/** The shape of an ajv validate function: true when `args` match; `errors` of the last failure. */
export type ArgsValidator = ((args: unknown) => boolean) & { errors?: ErrorObject[] | null };

/**
 * oslo.messaging's Serializer: how one kwarg value or the context goes onto / comes off the wire.
 * Trove's secure serializer encrypts here; the transport and dispatcher never see keys.
 */
export interface Serializer {
  serializeEntity(value: unknown): unknown;
  deserializeEntity(value: unknown): unknown;
  /** Returns the `_context_*` keys to merge into the message. */
  serializeContext(context: RequestContext): Record<string, unknown>;
  /** Takes the whole decoded oslo message and returns the context it carries. */
  deserializeContext(message: Readonly<Record<string, unknown>>): RequestContext;
}

export type CallOutcome = 'success' | 'failure' | 'dropped';

/** Hooks through which the transport reports what it does (metrics, health); never required. */
export interface RpcObserver {
  onCall?(method: string, outcome: CallOutcome, seconds: number): void;
  onConnectionChange?(connected: boolean): void;
  onReconnect?(): void;
}

/** Publishing a cast to another service's topic (the conductor). */
export interface Caster {
  cast(
    topic: string,
    method: string,
    args: Readonly<Record<string, unknown>>,
    options?: { version?: string; context?: RequestContext; serializer?: Serializer },
  ): Promise<void>;
}
