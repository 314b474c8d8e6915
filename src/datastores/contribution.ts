import type { ConductorApi } from '../conductor/api';
import type { AgentConfig } from '../config/types';
import type { Logger } from '../log';
import type { Datastore } from '../guest/datastore/contract';
import type { GuestMethodsDeps } from '../guest/methods/table';

/** What the agent hands every datastore when it wires it. */
export interface DatastoreContext {
  readonly config: AgentConfig;
  readonly conductor: ConductorApi;
  /** Sends the datastore's status now, after any beat in flight. */
  readonly beatNow: () => Promise<unknown>;
  readonly log: Logger;
}

/** The method groups a datastore adds to the always-served lifecycle and log methods. */
export type DatastoreMethods = Pick<GuestMethodsDeps, 'node' | 'configuration' | 'volume' | 'backup' | 'guestLogs' | 'prepareGuard'>;

/**
 * One datastore's part in the agent: the Datastore prepare drives, the methods it serves and
 * its background work at start and stop. A second datastore is a second file next to this one
 * (and a name in index.ts), not a branch in src/agent.ts.
 */
export interface DatastoreContribution {
  readonly datastore: Datastore;
  readonly methods: DatastoreMethods;
  /** Agent start on a prepared guest, before RPC is served: brings the datastore back; `onStarted` sends a fresh heartbeat. */
  readonly resume?: (onStarted: () => Promise<unknown>) => Promise<void>;
  /** Agent stop, first: aborts long work (a running backup) and resolves once it wound down or `graceMs` passed. */
  readonly abort?: (graceMs: number) => Promise<void>;
  /** Agent stop, after heartbeats stopped and abort settled, while the broker connection is still open. */
  readonly close?: () => Promise<void>;
}

export type DatastoreWiring = (context: DatastoreContext) => DatastoreContribution;
