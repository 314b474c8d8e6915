import {
  AgentError,
  GuestStateError,
  InvalidArgumentsError,
  MessageFormatError,
  NoSuchMethodError,
  NotSupportedError,
  UnsupportedVersionError,
} from '../errors';
import { redactUrl } from '../log';

/**
 * The one table from our error classes to oslo failures (spec/trove-rpc.md §4.3).
 * The Trove client re-raises `builtins.*` and `trove.common.exception.*` classes as themselves
 * (rebuilt with `klass(*args, **kwargs)`, so args/kwargs must fit the class constructor);
 * anything else becomes RemoteError. Either way Trove keeps only `message`, so it must read well.
 */

/** oslo's serialized remote exception; the reply carries it as a JSON string. */
export interface OsloFailure {
  readonly class: string;
  readonly module: string;
  readonly message: string;
  readonly tb: readonly string[];
  readonly args: readonly unknown[];
  readonly kwargs: Readonly<Record<string, unknown>>;
}

/**
 * How args are filled: `message` = [message] (builtins and oslo dispatcher errors take it
 * positionally); `none` = [] like a real Trove exception raised with keyword arguments, whose
 * OpenstackException sets no `.args` or `.kwargs` (captured from the reference server).
 */
type ArgsStyle = 'message' | 'none';

interface FailureClass {
  readonly error: abstract new (...args: never[]) => Error;
  readonly module: string;
  readonly className: string;
  readonly args: ArgsStyle;
}

const DISPATCHER = 'oslo_messaging.rpc.dispatcher';
const TROVE = 'trove.common.exception';
const BUILTINS = 'builtins';

// First match wins; order subclasses before their bases if any are ever added.
const FAILURE_TABLE: readonly FailureClass[] = [
  { error: NoSuchMethodError, module: DISPATCHER, className: 'NoSuchMethod', args: 'message' },
  { error: UnsupportedVersionError, module: DISPATCHER, className: 'UnsupportedVersion', args: 'message' },
  { error: NotSupportedError, module: TROVE, className: 'DatastoreOperationNotSupported', args: 'none' },
  // InvalidInstanceState ("... cannot be executed because the instance status is currently ...")
  // exists in Trove 18's trove/common/exception.py and is what Trove raises for a request the
  // instance's state does not allow. Rebuilt with no kwargs its template would not format, but
  // oslo overrides __str__ with our message, so the caller sees our text.
  { error: GuestStateError, module: TROVE, className: 'InvalidInstanceState', args: 'none' },
  { error: InvalidArgumentsError, module: BUILTINS, className: 'TypeError', args: 'message' },
  { error: MessageFormatError, module: BUILTINS, className: 'ValueError', args: 'message' },
];

const FALLBACK_CLASS = 'RuntimeError';
/** Trove shows the message to operators; an unbounded one only clutters the logs. */
const MAX_MESSAGE_CHARS = 2000;

function clip(text: string): string {
  return text.length > MAX_MESSAGE_CHARS ? `${text.slice(0, MAX_MESSAGE_CHARS)}...` : text;
}

/**
 * Message for an error outside the table. Our AgentError messages are written for an operator;
 * anything else is a bug or a library error, so its class name is kept and any URL credentials
 * are cut (a library message may quote a broker or Swift URL). Stacks never go on the wire.
 */
function fallbackMessage(err: unknown): string {
  if (err instanceof AgentError) return redactUrl(err.message);
  if (err instanceof Error) return `internal error (${err.name}): ${redactUrl(err.message)}`;
  return 'internal error: the handler failed with a non-Error value';
}

/** Python prints builtins without the module, everything else fully qualified. */
function qualifiedName(module: string, className: string): string {
  return module === BUILTINS ? className : `${module}.${className}`;
}

/** A readable pseudo-traceback: Trove logs `message + tb`, so keep it short and honest. */
function pseudoTraceback(module: string, className: string, message: string, method: string | undefined): string[] {
  return [
    'Traceback (most recent call last):\n',
    `  File "k2hdkc-trove-agent", in ${method ?? '<rpc>'}\n`,
    `${qualifiedName(module, className)}: ${message}\n`,
  ];
}

/** Maps any thrown value to an oslo failure; `method` only feeds the pseudo-traceback. */
export function toFailure(err: unknown, method?: string): OsloFailure {
  const entry = FAILURE_TABLE.find((candidate) => err instanceof candidate.error);
  if (entry !== undefined && err instanceof Error) {
    const message = clip(err.message);
    return {
      class: entry.className,
      module: entry.module,
      message,
      tb: pseudoTraceback(entry.module, entry.className, message, method),
      args: entry.args === 'message' ? [message] : [],
      kwargs: {},
    };
  }
  const message = clip(fallbackMessage(err));
  return {
    class: FALLBACK_CLASS,
    module: BUILTINS,
    message,
    tb: pseudoTraceback(BUILTINS, FALLBACK_CLASS, message, method),
    args: [message],
    kwargs: {},
  };
}

/** The `failure` field of a reply: oslo sends the failure as a JSON string (spec §0.7). */
export function serializeFailure(err: unknown, method?: string): string {
  return JSON.stringify(toFailure(err, method));
}

/** Expected failures are logged at warn without a stack; everything else at error with it. */
export function isExpectedError(err: unknown): boolean {
  return err instanceof AgentError && err.expected;
}
