import { randomUUID } from 'node:crypto';
import { MessageFormatError } from '../errors';

/**
 * The oslo.messaging 2.0 wire format (spec/trove-rpc.md §3.1, §3.2, §4.1): a JSON object
 * `{"oslo.version": "2.0", "oslo.message": "<JSON string>"}` around the request or reply.
 * Everything coming off the wire is `unknown` until a function here has checked it.
 */

export const OSLO_VERSION = '2.0';
const VERSION_KEY = 'oslo.version';
const MESSAGE_KEY = 'oslo.message';
/** AMQP routing keys are short strings: at most 255 bytes. */
const MAX_ROUTING_KEY_BYTES = 255;

/** A decoded request: the fields the server needs, plus the whole message for the context. */
export interface OsloRequest {
  readonly method: string;
  /** Still serialized: each value goes through Serializer.deserializeEntity in the dispatcher. */
  readonly args: unknown;
  /** `"1.0"` when the sender left it out, as oslo's dispatcher assumes. */
  readonly version: unknown;
  /** Set for calls only; casts carry no `_msg_id`. */
  readonly msgId: string | null;
  readonly replyQ: string | null;
  readonly uniqueId: string | null;
  /** Call-monitor timeout; Trove always sends null (spec §0.6), we never act on it. */
  readonly timeout: unknown;
  readonly message: Readonly<Record<string, unknown>>;
}

/** Where a reply goes: both come from the request and are echoed as is. */
export interface ReplyTarget {
  readonly msgId: string;
  readonly replyQ: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // The parser's own message can quote the input; keep only what an operator needs.
    throw new MessageFormatError(`${what} is not valid JSON`);
  }
}

/**
 * Unwraps a message body into the inner oslo message object; throws MessageFormatError.
 * Bodies over maxBytes are refused before parsing, so a hostile sender cannot make us build
 * a huge object graph.
 */
export function decodeEnvelope(body: Buffer, maxBytes: number): Record<string, unknown> {
  if (body.length > maxBytes) {
    throw new MessageFormatError(`message body of ${body.length} bytes exceeds the limit of ${maxBytes} bytes`);
  }
  const outer = parseJson(body.toString('utf8'), 'message body');
  if (!isRecord(outer)) throw new MessageFormatError('message body is not a JSON object');
  // oslo's deserialize_msg passes an object without the envelope keys through unchanged
  // (pre-2.0 senders); we do the same.
  if (!(VERSION_KEY in outer) && !(MESSAGE_KEY in outer)) return outer;
  const version = outer[VERSION_KEY];
  if (typeof version !== 'string' || version.split('.')[0] !== OSLO_VERSION.split('.')[0]) {
    throw new MessageFormatError(
      `unsupported oslo envelope version ${JSON.stringify(version)?.slice(0, 40)} (expected ${OSLO_VERSION})`,
    );
  }
  const inner = outer[MESSAGE_KEY];
  if (typeof inner !== 'string') throw new MessageFormatError('oslo.message is not a string');
  const message = parseJson(inner, 'oslo.message');
  if (!isRecord(message)) throw new MessageFormatError('oslo.message is not a JSON object');
  return message;
}

/** Wraps an oslo message into the 2.0 envelope, as UTF-8 bytes ready to publish. */
export function encodeEnvelope(message: Readonly<Record<string, unknown>>): Buffer {
  return Buffer.from(JSON.stringify({ [VERSION_KEY]: OSLO_VERSION, [MESSAGE_KEY]: JSON.stringify(message) }), 'utf8');
}

function optionalString(message: Readonly<Record<string, unknown>>, field: string): string | null {
  const value = message[field];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw new MessageFormatError(`${field} is not a string`);
  return value;
}

function isRoutingKey(value: string): boolean {
  return value.length > 0 && Buffer.byteLength(value, 'utf8') <= MAX_ROUTING_KEY_BYTES;
}

/** Extracts the request fields from a decoded oslo message; throws MessageFormatError. */
export function parseRequest(message: Readonly<Record<string, unknown>>): OsloRequest {
  const method = message['method'];
  if (typeof method !== 'string' || method.length === 0) {
    throw new MessageFormatError('message has no method name');
  }
  const replyQ = optionalString(message, '_reply_q');
  if (replyQ !== null && !isRoutingKey(replyQ)) throw new MessageFormatError('_reply_q is not a valid queue name');
  return {
    method,
    // oslo's dispatcher reads message.get('args', {}) and message.get('version', '1.0').
    args: message['args'] === undefined ? {} : message['args'],
    version: message['version'] === undefined || message['version'] === null ? '1.0' : message['version'],
    msgId: optionalString(message, '_msg_id') || null,
    replyQ,
    uniqueId: optionalString(message, '_unique_id'),
    timeout: message['_timeout'] ?? null,
    message,
  };
}

/** Reads a reply target from a decoded message whose other fields may be invalid. */
export function replyTargetOf(message: Readonly<Record<string, unknown>>): ReplyTarget | null {
  const msgId = message['_msg_id'];
  const replyQ = message['_reply_q'];
  if (typeof msgId !== 'string' || msgId.length === 0 || typeof replyQ !== 'string' || !isRoutingKey(replyQ)) {
    return null;
  }
  return { msgId, replyQ };
}

// Matches `"<field>": "<value>"` inside oslo.message, where the quotes are escaped once (`\"`).
function scanField(body: Buffer, field: string): string | null {
  const at = body.indexOf(field, 0, 'latin1');
  if (at < 0) return null;
  const window = body.subarray(at + field.length, at + field.length + MAX_ROUTING_KEY_BYTES + 16).toString('latin1');
  const match = /^\\?"\s*:\s*\\?"([A-Za-z0-9_.:-]{1,255})\\?"/.exec(window);
  return match?.[1] ?? null;
}

/**
 * Finds `_msg_id` and `_reply_q` in a body that could not be decoded (not JSON, wrong envelope,
 * too big) without parsing it, so such a call still gets a failure reply instead of a timeout.
 * Only plain identifier characters are accepted; oslo's reply queues are `reply_<hex>`.
 */
export function scanReplyTarget(body: Buffer): ReplyTarget | null {
  const msgId = scanField(body, '"_msg_id');
  const replyQ = scanField(body, '"_reply_q');
  return msgId !== null && replyQ !== null ? { msgId, replyQ } : null;
}

/** A fresh `_unique_id` (uuid4 hex, as oslo). */
export function newUniqueId(): string {
  return randomUUID().replace(/-/g, '');
}

/**
 * The one reply message of a call (spec §4.1): `ending: true` always, never call-monitor
 * heartbeats or the legacy two-message form, which crash the Trove 18 client (§0.6).
 */
export function buildReply(
  msgId: string,
  outcome: { readonly result: unknown } | { readonly failure: string },
): Record<string, unknown> {
  return {
    result: 'result' in outcome ? outcome.result : null,
    failure: 'failure' in outcome ? outcome.failure : null,
    ending: true,
    _msg_id: msgId,
    _unique_id: newUniqueId(),
  };
}

/** A cast to another topic (guest -> conductor), in the field order oslo's client uses. */
export function buildCast(
  method: string,
  args: Readonly<Record<string, unknown>>,
  version: string,
  contextFields: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  return { method, args, version, _unique_id: newUniqueId(), ...contextFields };
}
