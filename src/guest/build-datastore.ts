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
import { restoreIntoDataFile } from './backup-methods-restore';
import { K2hdkcDatastore, type K2hdkcDatastoreOptions } from './k2hdkc-datastore';
import { NodeConfiguration } from './config-methods-node';
import { OverridesStore } from '../k2hdkc/overrides';
import { join } from 'node:path';
import { lookupTokenProject } from '../keystone/token-project';

/** What [k2hdkc] datastore selects; `volume` is set when the agent manages the data volume. */
export interface BuiltDatastore {
  readonly datastore: BaseDatastore | K2hdkcDatastore;
  readonly volume: Volume | null;
  /** Trove's configuration groups and upgrade for the K2HDKC node. */
  readonly configuration?: NodeConfiguration;
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
  // The overlay reads the overrides when the INI is written; the manager exists before the configuration.
  let configuration: NodeConfiguration | null = null;
  const manager = new K2hdkcManager({
    iniOverlay: async (served) => (configuration === null ? served : configuration.iniOverlay(served)),
    guestId: guest.guestId,
    role: k2hdkc.mode,
    nodeName: k2hdkc.nodeName ?? hostname(),
    // Unset: the configuration's cluster-name, else the Trove cluster, else the instance (k2hdkc/cluster-name.ts).
    clusterName: k2hdkc.clusterName,
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
    k2hr3PollMs: k2hdkc.k2hr3PollMs,
    ring: { checkMs: k2hdkc.ringCheckMs, startGraceMs: k2hdkc.startGraceMs },
    log: managerLog,
  });
  const restoreDeps = { config: config.backup, mountPoint: agent.mountPoint, runner };
  const restore: K2hdkcDatastoreOptions['restore'] = (backupInfo, call, ini) => restoreIntoDataFile(restoreDeps, backupInfo, call, ini);
  configuration = new NodeConfiguration({
    store: new OverridesStore(join(agent.stateDir, 'overrides.json')),
    node: manager,
    saveConfig: (text) => base.saveConfig(text),
    role: k2hdkc.mode,
    iniPath: k2hdkc.iniPath,
    mountPoint: agent.mountPoint,
    log: managerLog.child({ component: 'configuration' }),
  });
  // Self-provisioning behind Trove: the context has the token and project id, Keystone knows the name.
  const tokenProjectName: K2hdkcDatastoreOptions['tokenProjectName'] = async (token, context, signal) => {
    const projectId = context['project_id'] ?? context['tenant'];
    const project = await lookupTokenProject(token, {
      serviceCatalog: context['service_catalog'],
      authUrl: k2hdkc.keystone.authUrl,
      region: k2hdkc.keystone.regionName,
      expectedProjectId: typeof projectId === 'string' && projectId !== '' ? projectId : null,
      ...(k2hdkc.localAddress === null ? {} : { localAddress: k2hdkc.localAddress }),
      ...(signal ? { signal } : {}),
      log: managerLog,
    });
    return project.name;
  };
  return { datastore: new K2hdkcDatastore({ manager, base, restore, configuration, tokenProjectName, log: managerLog }), volume, configuration };
}
