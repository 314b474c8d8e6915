import { promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import type { AgentConfig } from '../config/types';
import type { Logger } from '../log';
import { K2hdkcManager } from '../k2hdkc/manager';
import { ProcessSupervisor } from '../k2hdkc/processes/supervisor';
import { SystemdProcesses } from '../k2hdkc/processes/systemd';
import type { NodeProcesses, WaitReady } from '../k2hdkc/processes/types';
import { createCommandRunner } from '../system/command';
import { Volume } from '../system/volume';
import { BaseDatastore } from './base-datastore';
import { K2hdkcDatastore } from './k2hdkc-datastore';

/** What [k2hdkc] datastore selects; `volume` is set when the agent manages the data volume. */
export interface BuiltDatastore {
  readonly datastore: BaseDatastore | K2hdkcDatastore;
  readonly volume: Volume | null;
}

/** The volume-only base datastore, or the K2HDKC node ([k2hdkc] datastore). */
export function buildDatastore(config: AgentConfig, log: Logger): BuiltDatastore {
  const { agent, k2hdkc, guest } = config;
  const base = new BaseDatastore({ mountPoint: agent.mountPoint, stateDir: agent.stateDir, log: log.child({ component: 'datastore' }) });
  if (k2hdkc.datastore === 'base') return { datastore: base, volume: null };

  const managerLog = log.child({ component: 'k2hdkc' });
  const runner = createCommandRunner();
  const volume = k2hdkc.manageVolume ? new Volume({ runner, log: log.child({ component: 'volume' }) }) : null;
  const createProcesses = (waitReady: WaitReady): NodeProcesses =>
    k2hdkc.processManager === 'systemd'
      ? new SystemdProcesses({ runner, log: log.child({ component: 'processes' }), waitReady })
      : new ProcessSupervisor({
          iniPath: k2hdkc.iniPath,
          runDir: k2hdkc.runDir,
          ...(k2hdkc.daemonLogDir === null ? {} : { logDir: k2hdkc.daemonLogDir }),
          waitReady,
          log: log.child({ component: 'processes' }),
          chmpx: { command: k2hdkc.chmpxPath },
          k2hdkc: { command: k2hdkc.k2hdkcPath },
          ...(k2hdkc.raiseMqueue ? {} : { mqueue: false as const }),
        });
  const templatePath = k2hdkc.iniTemplatePath;
  const manager = new K2hdkcManager({
    guestId: guest.guestId,
    role: k2hdkc.mode,
    nodeName: k2hdkc.nodeName ?? hostname(),
    // One Trove instance without a cluster is its own one-node cluster.
    clusterName: k2hdkc.clusterName ?? guest.guestId,
    extdataUrl: k2hdkc.extdataUrl,
    k2hr3ApiUrl: k2hdkc.k2hr3ApiUrl,
    template: templatePath === null ? null : () => fs.readFile(templatePath, 'utf8'),
    k2hr3: { ...(k2hdkc.localAddress === null ? {} : { localAddress: k2hdkc.localAddress }), log: managerLog },
    iniPath: k2hdkc.iniPath,
    ctlportHost: k2hdkc.ctlportHost,
    stateDir: agent.stateDir,
    createProcesses,
    volume,
    prepareTimeoutMs: k2hdkc.prepareTimeoutMs,
    healthPollMs: k2hdkc.healthPollMs,
    log: managerLog,
  });
  return { datastore: new K2hdkcDatastore({ manager, base, log: managerLog }), volume };
}
