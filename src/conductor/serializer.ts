import { AgentError } from '../errors';
import { deriveAesKey, encryptJson, packContext } from '../rpc/secure';
import type { RequestContext, Serializer } from '../rpc/types';

/**
 * Trove's ConductorGuestSerializer (spec/trove-rpc.md §3.5 "Guest -> conductor").
 *
 * With a key, each kwarg becomes a JSON *string* `{"entity": <encrypted json>, "csz-instance-id":
 * <guest id>}`: the conductor reads `csz-instance-id` to find which instance key decrypts `entity`.
 * The context becomes `_context_context` (encrypted) plus `_context_csz-instance-id` in clear.
 * Without a key (enable_secure_rpc_messaging=False) values and context go out as plain JSON,
 * and Trove adds no `csz-instance-id` then, so neither do we.
 *
 * It only serializes: the conductor never sends anything back to the guest through it.
 */
export class ConductorGuestSerializer implements Serializer {
  private readonly key: Buffer | null;
  private readonly guestId: string;

  /** `secret` is guest_info.conf's instance_rpc_encr_key, or null when secure RPC is off. */
  constructor(guestId: string, secret: string | null) {
    this.guestId = guestId;
    this.key = secret === null ? null : deriveAesKey(secret);
  }

  get encrypted(): boolean {
    return this.key !== null;
  }

  serializeEntity(value: unknown): unknown {
    if (this.key === null) return value;
    // Written with Python's json.dumps separators so the wire text has the same shape as the
    // Python guest's (the conductor parses either).
    return `{"entity": ${JSON.stringify(encryptJson(value, this.key))}, "csz-instance-id": ${JSON.stringify(this.guestId)}}`;
  }

  deserializeEntity(): unknown {
    throw new AgentError('K2H_ERR_INTERNAL', 'ConductorGuestSerializer cannot deserialize: the conductor never replies');
  }

  serializeContext(context: RequestContext): Record<string, unknown> {
    if (this.key === null) return packContext(context);
    return { _context_context: encryptJson(context, this.key), '_context_csz-instance-id': this.guestId };
  }

  deserializeContext(): RequestContext {
    throw new AgentError('K2H_ERR_INTERNAL', 'ConductorGuestSerializer cannot deserialize: the conductor never replies');
  }
}
