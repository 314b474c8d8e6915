/**
 * One interface for running a node's chmpx and k2hdkc, whoever does the work: systemd units on a
 * VM (systemd.ts) or the agent itself (supervisor.ts, development and tests).
 */

/** A server runs chmpx and k2hdkc; a slave (client) node runs chmpx only (spec §4.3). */
export type NodeRole = 'server' | 'slave';

export type ProcessName = 'chmpx' | 'k2hdkc';

/**
 * `crashed`: it kept dying (crash loop) and nobody restarts it any more; only start() clears it.
 * `restarting`: it died and a restart is scheduled.
 */
export type ProcessState = 'stopped' | 'starting' | 'running' | 'restarting' | 'stopping' | 'crashed';

export interface NodeProcessesState {
  /** The role of the last start(), or null before the first. */
  readonly role: NodeRole | null;
  readonly chmpx: ProcessState;
  /** Always 'stopped' on a slave. */
  readonly k2hdkc: ProcessState;
}

/** What happened to one process; `crash-loop` means it has been given up (state 'crashed'). */
export interface ProcessEvent {
  readonly process: ProcessName;
  readonly type: 'spawned' | 'exited' | 'restarting' | 'crash-loop' | 'stopped';
  readonly pid?: number;
  readonly exitCode?: number | null;
  readonly signal?: string | null;
  /** For 'restarting': the backoff before the next spawn. */
  readonly delayMs?: number;
}

export type ProcessEventListener = (event: ProcessEvent) => void;

export interface NodeProcesses {
  /**
   * Starts chmpx, waits until its control port answers, then (servers only) k2hdkc. Resolves once
   * both are started; rejects with ProcessError (and leaves both stopped) when that fails.
   */
  start(role: NodeRole, signal?: AbortSignal): Promise<void>;
  /** Stops k2hdkc, then chmpx, well within Trove's 15 s stop_db budget. Never rejects for a process already gone. */
  stop(): Promise<void>;
  /** stop() then start() with the last role; ProcessError if never started. */
  restart(signal?: AbortSignal): Promise<void>;
  state(): Promise<NodeProcessesState>;
  /** Subscribes to process events (crash, restart, crash loop); returns the unsubscribe function. */
  onEvent(listener: ProcessEventListener): () => void;
}

/** Waits until the local chmpx control port answers; rejects (or the signal aborts) otherwise. */
export type WaitReady = (signal: AbortSignal) => Promise<void>;
