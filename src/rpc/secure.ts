import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { MessageFormatError } from '../errors';
import type { RequestContext, Serializer } from './types';

// Trove's crypto_utils: the AES key is the md5 *hex string* of the secret (32 ASCII bytes),
// so this is AES-256-CBC, not AES-128 (spec/trove-rpc.md §3.5, §10).
const IV_BYTES = 16;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Derives the 32-byte AES key Trove uses from an instance or controller secret. */
export function deriveAesKey(secret: string): Buffer {
  return Buffer.from(createHash('md5').update(secret, 'utf8').digest('hex'), 'ascii');
}

/** base64(iv || AES-256-CBC(PKCS#7(plaintext))), as trove.common.crypto_utils.encrypt_data. */
export function encryptText(plaintext: string, key: Buffer): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  return Buffer.concat([iv, cipher.update(plaintext, 'utf8'), cipher.final()]).toString('base64');
}

/** Reverses encryptText; throws MessageFormatError on bad base64, length or padding. */
export function decryptText(ciphertext: string, key: Buffer): string {
  if (!BASE64.test(ciphertext) || ciphertext.length % 4 !== 0) {
    throw new MessageFormatError('encrypted value is not valid base64');
  }
  const raw = Buffer.from(ciphertext, 'base64');
  if (raw.length < IV_BYTES * 2 || raw.length % IV_BYTES !== 0) {
    throw new MessageFormatError(`encrypted value has an invalid length (${raw.length} bytes)`);
  }
  const decipher = createDecipheriv('aes-256-cbc', key, raw.subarray(0, IV_BYTES));
  // Trove strips `last byte` bytes without checking them; we check, so a wrong key is an error
  // instead of garbage that later fails JSON parsing with a confusing message.
  decipher.setAutoPadding(false);
  const padded = Buffer.concat([decipher.update(raw.subarray(IV_BYTES)), decipher.final()]);
  const pad = padded[padded.length - 1] ?? 0;
  if (pad < 1 || pad > IV_BYTES || padded.subarray(padded.length - pad).some((b) => b !== pad)) {
    throw new MessageFormatError('encrypted value could not be decrypted (wrong key or corrupted data)');
  }
  return padded.subarray(0, padded.length - pad).toString('utf8');
}

/** JSON-encodes then encrypts one value (a kwarg, a result, a context). */
export function encryptJson(value: unknown, key: Buffer): string {
  return encryptText(JSON.stringify(value === undefined ? null : value), key);
}

/** Decrypts then JSON-decodes one value; throws MessageFormatError. */
export function decryptJson(ciphertext: unknown, key: Buffer): unknown {
  if (typeof ciphertext !== 'string') {
    throw new MessageFormatError(`expected an encrypted string, got ${ciphertext === null ? 'null' : typeof ciphertext}`);
  }
  const text = decryptText(ciphertext, key);
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new MessageFormatError('decrypted value is not JSON', { cause });
  }
}

const CONTEXT_PREFIX = '_context_';

/** Splits the flattened `_context_<key>` fields of an oslo message back into an object. */
export function unpackContext(message: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const context: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(message)) {
    if (field.startsWith(CONTEXT_PREFIX)) context[field.slice(CONTEXT_PREFIX.length)] = value;
  }
  return context;
}

/** Flattens a context into `_context_<key>` fields (oslo pack_context). */
export function packContext(context: RequestContext): Record<string, unknown> {
  const packed: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(context)) packed[CONTEXT_PREFIX + key] = value;
  return packed;
}

/**
 * Trove's SecureSerializer for controller <-> guest traffic: every kwarg, the context and the
 * result are encrypted with the instance key; with no key it is oslo's plain JSON serializer.
 */
export class SecureSerializer implements Serializer {
  private readonly key: Buffer | null;

  constructor(secret: string | null) {
    this.key = secret === null ? null : deriveAesKey(secret);
  }

  get encrypted(): boolean {
    return this.key !== null;
  }

  serializeEntity(value: unknown): unknown {
    return this.key === null ? value : encryptJson(value, this.key);
  }

  deserializeEntity(value: unknown): unknown {
    return this.key === null ? value : decryptJson(value, this.key);
  }

  serializeContext(context: RequestContext): Record<string, unknown> {
    return this.key === null ? packContext(context) : { _context_context: encryptJson(context, this.key) };
  }

  deserializeContext(message: Readonly<Record<string, unknown>>): RequestContext {
    if (this.key === null) return unpackContext(message);
    const decrypted = decryptJson(message['_context_context'], this.key);
    if (decrypted === null || typeof decrypted !== 'object' || Array.isArray(decrypted)) {
      throw new MessageFormatError('decrypted context is not an object');
    }
    return decrypted as RequestContext;
  }
}
