/**
 * The errors k2hdkc-dbaas reports. Each carries the exit code the command ends with, so the one
 * place that prints an error (main.ts) never has to guess: 2 = the command line or the
 * configuration is wrong (nothing was sent), 3 = something named does not exist, 1 = a service
 * failed or refused. The message is written for the user and never holds a secret.
 */
export type CliErrorKind = 'usage' | 'config' | 'not_found' | 'conflict' | 'service' | 'timeout';

const EXIT_CODES: Readonly<Record<CliErrorKind, number>> = {
  usage: 2,
  config: 2,
  not_found: 3,
  conflict: 4,
  service: 1,
  timeout: 5,
};

export class CliError extends Error {
  readonly kind: CliErrorKind;
  readonly exitCode: number;

  constructor(kind: CliErrorKind, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CliError';
    this.kind = kind;
    this.exitCode = EXIT_CODES[kind];
  }
}

/** The exit code for an error of `kind`. */
export function exitCodeOf(kind: CliErrorKind): number {
  return EXIT_CODES[kind];
}
