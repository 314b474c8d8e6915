/**
 * Every error the agent raises derives from AgentError: a stable `code` for logs and tests,
 * a message written for an operator (Trove keeps only the text), and an optional `cause`.
 * The mapping to oslo failure classes lives in one place: src/rpc/failures.ts.
 */
export class AgentError extends Error {
  readonly code: string;
  /** Expected failures (bad input, unsupported call) are logged at warn without a stack. */
  readonly expected: boolean;

  constructor(code: string, message: string, options: { cause?: unknown; expected?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.expected = options.expected ?? false;
  }
}

/** A configuration file, section or key is missing or invalid; start-up stops. */
export class ConfigError extends AgentError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('K2H_ERR_CONFIG', message, { ...options, expected: true });
  }
}

/** A message could not be decoded (JSON, envelope, base64, ciphertext). */
export class MessageFormatError extends AgentError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('K2H_ERR_MESSAGE_FORMAT', message, { ...options, expected: true });
  }
}

/** The method does not exist or is private (oslo NoSuchMethod). */
export class NoSuchMethodError extends AgentError {
  readonly method: string;
  constructor(method: string) {
    super('K2H_ERR_NO_SUCH_METHOD', `Endpoint does not support RPC method ${method}`, { expected: true });
    this.method = method;
  }
}

/** The requested RPC version is not compatible with the served 1.1 (oslo UnsupportedVersion). */
export class UnsupportedVersionError extends AgentError {
  constructor(version: string, method: string) {
    super(
      'K2H_ERR_UNSUPPORTED_VERSION',
      `Endpoint does not support RPC version ${version}. Attempted method: ${method}`,
      { expected: true },
    );
  }
}

/** Arguments failed the method's schema. */
export class InvalidArgumentsError extends AgentError {
  constructor(message: string) {
    super('K2H_ERR_INVALID_ARGS', message, { expected: true });
  }
}

/** A Trove method we know but do not support for K2HDKC (DatastoreOperationNotSupported). */
export class NotSupportedError extends AgentError {
  readonly operation: string;
  constructor(operation: string, datastore = 'k2hdkc') {
    super('K2H_ERR_NOT_SUPPORTED', `The '${operation}' operation is not supported for the '${datastore}' datastore.`, {
      expected: true,
    });
    this.operation = operation;
  }
}

/** The guest is not in a state that allows the request (e.g. a second prepare). */
export class GuestStateError extends AgentError {
  constructor(message: string) {
    super('K2H_ERR_GUEST_STATE', message, { expected: true });
  }
}

/** The broker cannot be reached (publishing while disconnected beyond the wait). */
export class TransportError extends AgentError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('K2H_ERR_TRANSPORT', message, options);
  }
}

/** Local system operations (filesystem stats, mounts). */
export class SystemError extends AgentError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('K2H_ERR_SYSTEM', message, options);
  }
}

/** What went wrong talking to a chmpx control port; part of the error code. */
export type CtlportFailure = 'connect' | 'timeout' | 'aborted' | 'rejected' | 'malformed';

/**
 * A chmpx control-port command failed: no connection, no reply in time, a reply we cannot
 * parse, or chmpx answered `ERROR: ...` / `Unknown command(...)` (`reply` holds its text).
 */
export class CtlportError extends AgentError {
  readonly failure: CtlportFailure;
  readonly command: string;
  readonly endpoint: string;
  readonly reply: string | undefined;
  constructor(
    failure: CtlportFailure,
    message: string,
    details: { command: string; endpoint: string; reply?: string; cause?: unknown },
  ) {
    super(`K2H_ERR_CTLPORT_${failure.toUpperCase()}`, message, { cause: details.cause });
    this.failure = failure;
    this.command = details.command;
    this.endpoint = details.endpoint;
    this.reply = details.reply;
  }
}

/** A CHMPX/K2HDKC INI is malformed or breaks an invariant; `reasons` lists each problem. */
export class IniError extends AgentError {
  readonly reasons: readonly string[];
  constructor(message: string, options: { reasons?: readonly string[]; cause?: unknown } = {}) {
    super('K2H_ERR_INI', message, { cause: options.cause, expected: true });
    this.reasons = options.reasons ?? [];
  }
}

/** What went wrong talking to K2HR3; `K2H_ERR_K2HR3_<KIND>` is the code. */
export type K2hr3ErrorKind = 'auth' | 'bad_request' | 'not_found' | 'unavailable' | 'bad_response' | 'extdata' | 'aborted';

/**
 * A K2HR3 request failed for good (retries, if any, are spent). `endpoint` is `METHOD url` with
 * secrets (role tokens, extdata register paths) already removed; `status` is the HTTP status when
 * there was one. Messages never contain a token.
 */
export class K2hr3Error extends AgentError {
  readonly kind: K2hr3ErrorKind;
  readonly endpoint: string;
  readonly status: number | undefined;
  constructor(
    kind: K2hr3ErrorKind,
    message: string,
    options: { endpoint: string; status?: number; cause?: unknown },
  ) {
    super(`K2H_ERR_K2HR3_${kind.toUpperCase()}`, message, {
      cause: options.cause,
      expected: kind !== 'bad_response' && kind !== 'unavailable',
    });
    this.kind = kind;
    this.endpoint = options.endpoint;
    this.status = options.status;
  }
}

/** An external command (spawned with an argument array) failed to start, timed out or exited non-zero. */
export class CommandError extends AgentError {
  readonly command: string;
  readonly args: readonly string[];
  /** null when the command could not be spawned or was killed. */
  readonly exitCode: number | null;
  readonly stderr: string;
  readonly timedOut: boolean;
  constructor(
    message: string,
    details: { command: string; args: readonly string[]; exitCode: number | null; stderr: string; timedOut: boolean },
    options: { cause?: unknown } = {},
  ) {
    super('K2H_ERR_COMMAND', message, options);
    this.command = details.command;
    this.args = details.args;
    this.exitCode = details.exitCode;
    this.stderr = details.stderr;
    this.timedOut = details.timedOut;
  }
}

/** chmpx / k2hdkc could not be started, stopped or kept running (spawn failure, not ready, crash loop). */
export class ProcessError extends AgentError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('K2H_ERR_PROCESS', message, options);
  }
}

/** The data volume could not be formatted, mounted, persisted in fstab, unmounted or resized. */
export class VolumeError extends AgentError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('K2H_ERR_VOLUME', message, options);
  }
}

/** What went wrong in a backup or restore; part of the error code (`K2H_ERR_BACKUP_<KIND>`). */
/** ABORTED: stopped from outside (agent shutdown); REFUSED: not started (prepare running, another backup, stopping). */
export type BackupErrorKind = 'SWIFT' | 'CHECKSUM' | 'ARCHIVE' | 'CRYPTO' | 'NOT_FOUND' | 'ABORTED' | 'REFUSED';

/** A backup or restore failed: Swift answered badly, a checksum differed, an archive was unreadable. */
export class BackupError extends AgentError {
  readonly kind: BackupErrorKind;
  /** HTTP status from Swift when there was one. */
  readonly status: number | undefined;
  constructor(kind: BackupErrorKind, message: string, options: { cause?: unknown; status?: number } = {}) {
    // A refusal is an answer to the request (logged as a warning), not an agent fault.
    super(`K2H_ERR_BACKUP_${kind}`, message, { cause: options.cause, expected: kind === 'REFUSED' });
    this.kind = kind;
    this.status = options.status;
  }
}

/** What went wrong for the backup scheduler talking to Keystone or Trove; `K2H_ERR_SCHEDULER_<KIND>`. */
export type SchedulerErrorKind = 'auth' | 'endpoint' | 'http' | 'bad_response' | 'unavailable';

/**
 * A Keystone or Trove request of the backup scheduler failed. `status` is the HTTP status when
 * there was one; the message carries Trove's own fault text and never a token or secret.
 */
export class SchedulerError extends AgentError {
  readonly kind: SchedulerErrorKind;
  readonly status: number | undefined;
  constructor(kind: SchedulerErrorKind, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(`K2H_ERR_SCHEDULER_${kind.toUpperCase()}`, message, { cause: options.cause, expected: kind === 'http' });
    this.kind = kind;
    this.status = options.status;
  }
}

/** What went wrong asking Keystone about the user's token; `K2H_ERR_KEYSTONE_<KIND>`. */
export type KeystoneErrorKind = 'auth' | 'endpoint' | 'unavailable' | 'bad_response' | 'aborted';

/**
 * A Keystone request of the agent failed (the token's own project for K2HR3 self-provisioning).
 * `endpoint` is `METHOD url`; the message never carries the token.
 */
export class KeystoneError extends AgentError {
  readonly kind: KeystoneErrorKind;
  readonly endpoint: string;
  readonly status: number | undefined;
  constructor(kind: KeystoneErrorKind, message: string, options: { endpoint: string; status?: number; cause?: unknown }) {
    super(`K2H_ERR_KEYSTONE_${kind.toUpperCase()}`, message, {
      cause: options.cause,
      expected: kind === 'auth' || kind === 'endpoint' || kind === 'aborted',
    });
    this.kind = kind;
    this.endpoint = options.endpoint;
    this.status = options.status;
  }
}
