import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The secure-RPC key every encrypted capture was made with (spec/trove-rpc.md, Fixtures). */
export const CAPTURE_KEY = 'k2hdkcTESTkey0123456789abcdefghi';

/** One line of test/fixtures/trove-rpc-captures.jsonl (real messages captured from Trove 18). */
export interface Capture {
  readonly label: string;
  readonly exchange: string;
  readonly routing_keys: readonly string[];
  readonly properties: Readonly<Record<string, unknown>>;
  /** The exact body bytes as text. */
  readonly body_text: string;
  /** The decoded inner oslo message. */
  readonly oslo_message: Record<string, unknown>;
  readonly args_decrypted?: Record<string, unknown>;
  readonly conductor_args_decrypted?: Record<string, unknown>;
  readonly context_decrypted?: Record<string, unknown>;
  readonly result_decrypted?: unknown;
  readonly failure_parsed?: Record<string, unknown>;
  readonly decrypted_with_key?: string;
}

let cache: readonly Capture[] | null = null;

/** All 75 captures, in file order. */
export function loadCaptures(): readonly Capture[] {
  if (cache === null) {
    const text = readFileSync(join(__dirname, '..', 'fixtures', 'trove-rpc-captures.jsonl'), 'utf8');
    cache = text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as Capture);
  }
  return cache;
}

/** The first capture whose label starts with `prefix`; throws when none does. */
export function capture(prefix: string): Capture {
  const found = loadCaptures().find((c) => c.label.startsWith(prefix));
  if (found === undefined) throw new Error(`no capture labelled ${prefix}`);
  return found;
}

/** Every capture whose label starts with `prefix`. */
export function captures(prefix: string): readonly Capture[] {
  return loadCaptures().filter((c) => c.label.startsWith(prefix));
}
