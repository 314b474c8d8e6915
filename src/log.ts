import pino, { type DestinationStream, type Logger } from 'pino';

/**
 * Paths pino censors on every line. Redaction is compiled once when the root logger is built
 * (a bad path throws at start-up). Any context object is censored whole: it carries the
 * user's Keystone token and we never need it in a log line.
 */
export const REDACT_PATHS: readonly string[] = [
  'password',
  '*.password',
  'auth_token',
  '*.auth_token',
  '*.*.auth_token',
  'token',
  '*.token',
  'instance_rpc_encr_key',
  '*.instance_rpc_encr_key',
  'instanceRpcEncrKey',
  '*.instanceRpcEncrKey',
  '*.*.instanceRpcEncrKey',
  'transport_url',
  '*.transport_url',
  'context',
  '*.context',
  'key',
  '*.key',
  'secret',
  '*.secret',
];

export type { Logger };

/** Builds the root logger; tests pass a destination stream to read the JSON lines back. */
export function createLogger(options: { level?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'k2hdkc-trove-agent' },
      redact: { paths: [...REDACT_PATHS], censor: '[Redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination,
  );
}

/**
 * Replaces every password of AMQP URLs inside a text (transport_url may list several hosts,
 * each `user:password@host`), for messages that must name the broker.
 */
export function redactUrl(text: string): string {
  return text.replace(/((?:\/\/|,)[^:/@,\s]*:)[^@,\s]*@/g, '$1[Redacted]@');
}
