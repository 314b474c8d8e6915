import { STATUS, type ServiceStatus } from '../conductor/statuses';
import type { Logger } from '../log';
import type { K2hdkcManager } from '../k2hdkc/manager';
import type { NodeHealth } from '../k2hdkc/ctlport/health';
import type { CallContext, RequestContext } from '../rpc/types';
import { BaseDatastore } from './base-datastore';
import type { Datastore, PrepareRequest } from './datastore';

/** The node operations the method table serves besides prepare (Trove's restart, stop_db, ...). */
export interface NodeOperations {
  restart(call: CallContext): Promise<void>;
  stopDb(options: { readonly deregister: boolean }, call: CallContext): Promise<void>;
  startDbWithConfChanges(configContents: string | null, call: CallContext): Promise<void>;
}

export interface K2hdkcDatastoreOptions {
  readonly manager: Pick<K2hdkcManager, 'prepare' | 'status' | 'restart' | 'stopDb' | 'startDbWithConfChanges'>;
  /** The data directory and config_contents handling every datastore shares. */
  readonly base: BaseDatastore;
  readonly log: Logger;
}

const HEALTH_TO_STATUS: Readonly<Record<NodeHealth, ServiceStatus>> = {
  healthy: STATUS.HEALTHY,
  running: STATUS.RUNNING,
  shutdown: STATUS.SHUTDOWN,
  crashed: STATUS.CRASHED,
};

/**
 * Trove's view of the K2HDKC manager: the Datastore the prepare controller drives, plus the
 * node operations. The user's Keystone token and project come from the request context and go
 * to the manager only (self-provisioning); they are never logged.
 */
export class K2hdkcDatastore implements Datastore, NodeOperations {
  /** Set while restart runs, so heartbeats say `restarting` instead of a passing `shutdown`. */
  private restarting = false;

  constructor(private readonly options: K2hdkcDatastoreOptions) {}

  async prepare(request: PrepareRequest, call: CallContext): Promise<void> {
    await this.options.manager.prepare(
      { devicePath: request.devicePath, mountPoint: request.mountPoint },
      { ...authFrom(call.context), signal: call.signal },
    );
    // After the volume is mounted: the directory check and the saved config_contents.
    await this.options.base.prepare(request, call);
  }

  async status(): Promise<ServiceStatus> {
    if (this.restarting) return STATUS.RESTARTING;
    return HEALTH_TO_STATUS[await this.options.manager.status()];
  }

  async restart(call: CallContext): Promise<void> {
    this.restarting = true;
    try {
      await this.options.manager.restart(call.signal);
    } finally {
      this.restarting = false;
    }
  }

  async stopDb(options: { readonly deregister: boolean }, _call: CallContext): Promise<void> {
    await this.options.manager.stopDb(options);
  }

  async startDbWithConfChanges(configContents: string | null, call: CallContext): Promise<void> {
    if (configContents !== null) await this.options.base.saveConfig(configContents);
    await this.options.manager.startDbWithConfChanges(call.signal);
  }
}

/** The Keystone token and project name of a Trove request context (oslo.context's to_dict keys). */
function authFrom(context: RequestContext): { keystoneToken: string | null; projectName: string | null } {
  const text = (key: string): string | null => {
    const value = context[key];
    return typeof value === 'string' && value !== '' ? value : null;
  };
  return { keystoneToken: text('auth_token'), projectName: text('project_name') ?? text('tenant_name') };
}
