import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { DestinationStream } from 'pino';
import { createLogger, type Logger } from '../../../../src/log';

export const FAKE_DAEMON = join(__dirname, 'fixtures', 'fake-daemon.mjs');
export const FAKE_SYSTEMCTL = join(__dirname, 'fixtures', 'fake-systemctl.mjs');

/** A logger whose JSON lines the test can read back. */
export function sinkLogger(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const destination: DestinationStream = { write: (line: string) => void lines.push(JSON.parse(line)) };
  return { log: createLogger({ level: 'debug', destination }), lines };
}

export interface DaemonEvent {
  name: string;
  pid: number;
  event: 'start' | 'signal' | 'exit' | 'listening';
  signal?: string;
  code?: number;
  port?: number;
  /** Date.now() when it was recorded. */
  at: number;
}

/** The stand-in daemons' JSON-lines event log. */
export function readEvents(file: string): DaemonEvent[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as DaemonEvent);
}

/** Polls until `check` returns a value (no timing is asserted; the test timeout bounds it). */
export async function waitFor<T>(check: () => T | undefined | false | Promise<T | undefined | false>, everyMs = 20): Promise<T> {
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Connects to 127.0.0.1:port and reads the one-line answer. */
export function ask(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (d) => (text += d.toString()));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

/**
 * A waitReady for the fake daemon: find the live chmpx (its pid file), wait for its "listening"
 * event, then check the port really answers, until the signal aborts.
 */
/** A stand-in daemon for the supervisor: fake-daemon.mjs named `name`, recording to `events`. */
export function fakeDaemon(name: string, events: string, args: readonly string[]): { command: string; args: string[] } {
  return { command: process.execPath, args: [FAKE_DAEMON, '--name', name, '--events', events, ...args] };
}

export function fakeWaitReady(runDir: string, events: string) {
  return async (signal: AbortSignal): Promise<void> => {
    while (!signal.aborted) {
      const pid = Number.parseInt(existsSync(join(runDir, 'chmpx.pid')) ? readFileSync(join(runDir, 'chmpx.pid'), 'utf8') : '', 10);
      const listening = readEvents(events).find((e) => e.name === 'chmpx' && e.pid === pid && e.event === 'listening');
      if (listening?.port !== undefined) {
        const reply = await ask(listening.port).catch(() => '');
        if (reply.startsWith('chmpx ')) return;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    throw signal.reason;
  };
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits until the stand-in `name` with `pid` has its signal handlers installed. */
export function started(events: string, name: string, pid?: number): Promise<DaemonEvent> {
  return waitFor(() => readEvents(events).find((e) => e.name === name && e.event === 'start' && (pid === undefined || e.pid === pid)));
}
