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
