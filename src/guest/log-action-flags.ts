import { InvalidArgumentsError } from '../errors';

/**
 * The enable/disable/publish/discard flags of guest_log_action as they arrive. Trove 18's API
 * validates them as integers 0/1 (troveclient sends `int(True)`, i.e. `1`) and passes them on
 * unchanged, so the guest sees `1`/`0`/null; other callers send JSON booleans, and a few send
 * the strings oslo's bool_from_string understands. Anything else is refused with a message
 * naming the flag and what it accepts.
 */
export type LogActionFlagValue = boolean | number | string | null | undefined;

/** One flag's schema: what may arrive; the handler turns it into a boolean with toLogActionFlag. */
export const LOG_ACTION_FLAG_SCHEMA = {
  anyOf: [{ type: 'boolean' }, { type: 'integer' }, { type: 'string', maxLength: 16 }, { type: 'null' }],
} as const;

const TRUE_WORDS = new Set(['1', 't', 'true', 'on', 'y', 'yes']);
const FALSE_WORDS = new Set(['0', 'f', 'false', 'off', 'n', 'no', '']);

/** A flag as a boolean; absent and null are false. Throws InvalidArgumentsError. */
export function toLogActionFlag(name: string, value: LogActionFlagValue): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (value === 0 || value === 1) return value === 1;
  } else {
    const word = value.trim().toLowerCase();
    if (TRUE_WORDS.has(word)) return true;
    if (FALSE_WORDS.has(word)) return false;
  }
  throw new InvalidArgumentsError(
    `guest_log_action: ${name} must be 1 or 0 (or true/false, yes/no, on/off); got ${JSON.stringify(value).slice(0, 40)}.`,
  );
}

/** All four flags as booleans; enabling and disabling at once is refused, as Trove's manager does. */
export function logActionFlags(args: Record<'enable' | 'disable' | 'publish' | 'discard', LogActionFlagValue>): {
  enable: boolean;
  disable: boolean;
  publish: boolean;
  discard: boolean;
} {
  const flags = {
    enable: toLogActionFlag('enable', args.enable),
    disable: toLogActionFlag('disable', args.disable),
    publish: toLogActionFlag('publish', args.publish),
    discard: toLogActionFlag('discard', args.discard),
  };
  if (flags.enable && flags.disable) throw new InvalidArgumentsError('guest_log_action: cannot enable and disable a log at once.');
  return flags;
}
