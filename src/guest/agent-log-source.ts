import { execFile } from 'node:child_process';
import { openSync } from 'node:fs';
import type { GuestLogSource } from './config-methods-logs';

/**
 * The `guest` log of `openstack database log ...`: the agent's own log. With [k2hdkc] log_file
 * the agent writes its lines there too, and the log is that file; on a VM without it the agent
 * runs as a systemd unit and logs to the journal, and the log is what journalctl prints for the
 * unit (at most the last JOURNAL_LINES lines, so publishing stays bounded); otherwise there is
 * none and Trove shows it Unavailable.
 */
export const JOURNAL_LINES = 20000;
const JOURNAL_MAX_BYTES = 64 * 1024 * 1024;

export interface AgentLogSourceOptions {
  /** [k2hdkc] log_file, or null. */
  readonly logFile: string | null;
  /** The agent's systemd unit; used when the process runs under systemd (INVOCATION_ID set). */
  readonly journalUnit: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly journalctl?: string;
}

export function agentLogSource(options: AgentLogSourceOptions): GuestLogSource {
  if (options.logFile !== null) return { name: 'guest', file: options.logFile };
  const env = options.env ?? process.env;
  if (!env['INVOCATION_ID']) return { name: 'guest', file: null };
  const journalctl = options.journalctl ?? 'journalctl';
  return {
    name: 'guest',
    file: `journald:${options.journalUnit}`,
    read: () => readJournal(journalctl, options.journalUnit),
  };
}

/** The unit's journal as text, or null when journalctl cannot give it. */
function readJournal(journalctl: string, unit: string): Promise<Buffer | null> {
  const args = ['--unit', unit, '--output', 'short-iso', '--no-pager', '--quiet', '--lines', String(JOURNAL_LINES)];
  return new Promise((resolve) => {
    execFile(journalctl, args, { encoding: 'buffer', maxBuffer: JOURNAL_MAX_BYTES, env: { ...process.env, LC_ALL: 'C' } }, (error, stdout) => {
      resolve(error ? null : stdout);
    });
  });
}

/**
 * Creates the log file (mode 0640) if missing and returns an append-only descriptor for the
 * logger. A plain descriptor, not a FileHandle: the logger keeps it for the process's life, and
 * a FileHandle would be closed under it when garbage-collected.
 */
export function openAgentLogFile(path: string): number {
  return openSync(path, 'a', 0o640);
}
