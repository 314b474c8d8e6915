import { promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { BackupSlot } from '../backup/slot';
import type { AgentConfig } from '../config/types';
import { BaseDatastore } from '../guest/datastore/base';
import type { NodeOperations } from '../guest/datastore/contract';
import { K2hdkcDatastore, type K2hdkcDatastoreOptions } from '../guest/datastore/k2hdkc';
import { loadBootstrap } from '../k2hdkc/bootstrap';
import { NodeConfiguration } from '../k2hdkc/configuration';
import { K2hdkcManager } from '../k2hdkc/manager';
import { OverridesStore } from '../k2hdkc/overrides';
import { ProcessSupervisor } from '../k2hdkc/processes/supervisor';
import { SystemdProcesses } from '../k2hdkc/processes/systemd';
import type { NodeProcesses, WaitReady } from '../k2hdkc/processes/types';
import type { Logger } from '../log';
import type { GuestLogs, GuestLogsOptions } from '../logs/guest-logs';
import { createCommandRunner } from '../system/command';
import { loadOnce } from '../system/load-once';
import { Volume } from '../system/volume';
import type { DatastoreContribution, DatastoreContext } from './contribution';

/**
 * [k2hdkc] datastore = k2hdkc: the K2HDKC node, and with it the node operations, configuration
 * groups, volume, backup and the chmpx/k2hdkc logs. At start the node is brought back as stop_db
 * left it (k2hdkc/stopped-state.ts); at stop a running backup is aborted first, then the node
 * stops following K2HR3 (chmpx and k2hdkc keep running).
 */
export function wireK2hdkcDatastore({ config, conductor, beatNow, log }: DatastoreContext): DatastoreContribution {
  const { agent, guest } = config;
  const { datastore, volume, configuration } = buildK2hdkcNode(config, log);
  const backups = new BackupSlot();
  return {
    datastore,
    methods: {
      node: { operations: stopDbAbortsBackup(datastore, backups, log.child({ component: 'backup', guestId: guest.guestId })), beatNow },
      prepareGuard: datastore.guard,
      volume: {
        volume,
        devicePath: agent.devicePath,
        mountPoint: agent.mountPoint,
        // After a failed offline resize_fs (Trove stopped the node before): up again, heartbeat at once.
        restartNode: async (call) => {
          await datastore.restart(call);
          await beatNow();
        },
      },
      configuration: {
        configuration,
        stateDir: agent.stateDir,
        beatNow,
        whileRestarting: (run) => datastore.whileRestarting(run),
      },
      guestLogs: publisherOnFirstUse(() => ({
        daemonLogDir: config.k2hdkc.daemonLogDir,
        agentLogFile: config.agent.logFile,
        guestId: guest.guestId,
        datastoreManager: guest.datastoreManager,
        statePath: join(agent.stateDir, 'guest-logs.json'),
        swift: { swiftUrl: config.backup.swiftUrl, serviceType: config.backup.swiftServiceType, endpointType: config.backup.swiftEndpointType, region: config.backup.regionName },
        log: log.child({ component: 'guest-logs' }),
      })),
      backup: {
        conductor,
        config: config.backup,
        iniPath: config.k2hdkc.iniPath,
        mountPoint: agent.mountPoint,
        runner: createCommandRunner(),
        log: log.child({ component: 'backup' }),
        slot: backups,
      },
    },
    // Follows K2HR3 again, or brings back a node a reboot (or a plain stop_db) left down.
    resume: (onStarted) => datastore.resume(onStarted),
    // Aborted at once (a backup outlasts any grace), and waited for before RPC stops: its
    // segment cleanup and FAILED cast need the broker connection.
    abort: async (graceMs) => {
      const backup = await backups.close('the agent is shutting down', graceMs);
      const alog = log.child({ component: 'agent', guestId: guest.guestId });
      if (backup === 'aborted') alog.info('running backup aborted and reported FAILED');
      if (backup === 'still-running') alog.warn('running backup did not wind down within shutdown_grace_seconds');
    },
    close: () => datastore.close(),
  };
}

/** How long stop_db waits for an aborted backup's cleanup: Trove gives the whole call 15 s. */
const BACKUP_ABORT_WAIT_MS = 8000;

/**
 * stop_db aborts a running backup first. Trove sends it before it deletes, reboots or resizes the
 * VM, which then goes down at once (nova powers it off; no SIGTERM reaches the agent): a backup
 * left running would leave its uploaded segments in Swift and its row BUILDING. Aborted here, it
 * removes its segments and reports FAILED while the node and the broker are still up.
 */
export function stopDbAbortsBackup(operations: NodeOperations, backups: Pick<BackupSlot, 'abort' | 'running'>, log: Logger): NodeOperations {
  return {
    restart: (call) => operations.restart(call),
    startDbWithConfChanges: (configContents, call) => operations.startDbWithConfChanges(configContents, call),
    stopDb: async (options, call) => {
      const id = backups.running;
      const outcome = await backups.abort('stop_db: the node is being stopped (instance delete, reboot or resize)', BACKUP_ABORT_WAIT_MS);
      if (outcome === 'aborted') log.warn({ backupId: id }, 'stop_db arrived during a backup: backup aborted, its segments removed and reported FAILED');
      if (outcome === 'still-running') log.warn({ backupId: id }, 'stop_db arrived during a backup: the aborted backup is still winding down; stopping the node anyway');
      await operations.stopDb(options, call);
    },
  };
}

/** `<cluster>` of a K2HR3 role `yrn:yahoo:::<tenant>:role:<cluster>/<server|slave>`, or null. */
export function clusterOfRole(roleYrn: string | undefined): string | null {
  const path = roleYrn === undefined ? undefined : /:role:(.+)$/.exec(roleYrn)?.[1];
  return path === undefined ? null : path.replace(/\/(server|slave)$/, '');
}

/** The agent's unit in the guest image (guest-image/systemd/); its journal is the `guest` log. */
const AGENT_UNIT = 'k2hdkc-trove-agent.service';

/**
 * The guest logs, loaded at the first guest_log_list or guest_log_action: the publisher brings
 * the Swift client (and axios) with it.
 */
function publisherOnFirstUse(
  options: () => Omit<GuestLogsOptions, 'sources'> & { readonly daemonLogDir: string | null; readonly agentLogFile: string | null },
): Pick<GuestLogs, 'list' | 'action'> {
  const logs = loadOnce(async () => {
    const [{ GuestLogs, k2hdkcLogSources }, { agentLogSource }] = await Promise.all([import('../logs/guest-logs'), import('../logs/agent-log-source')]);
    const { daemonLogDir, agentLogFile, ...rest } = options();
    const agentLog = agentLogSource({ logFile: agentLogFile, journalUnit: AGENT_UNIT });
    return new GuestLogs({ ...rest, sources: k2hdkcLogSources(agentLog, daemonLogDir) });
  });
  return {
    list: async () => (await logs()).list(),
    action: async (name, flags, context) => (await logs()).action(name, flags, context),
  };
}

/** The K2HDKC node and what it is built from; src/standalone.ts runs it without Trove. */
export interface K2hdkcNode {
  readonly datastore: K2hdkcDatastore;
  /** Set when the agent manages the data volume ([k2hdkc] manage_volume). */
  readonly volume: Volume | null;
  /** Trove's configuration groups and upgrade for the node. */
  readonly configuration: NodeConfiguration;
}

/** Builds the K2HDKC node: manager, processes, volume, configuration, restore and the Keystone lookup. */
export function buildK2hdkcNode(config: AgentConfig, log: Logger): K2hdkcNode {
  const { agent, k2hdkc, guest } = config;
  const base = new BaseDatastore({ mountPoint: agent.mountPoint, stateDir: agent.stateDir, log: log.child({ component: 'datastore' }) });

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
  // The restore pipeline (Swift client, tar) is loaded only when a prepare restores a backup.
  const restore: K2hdkcDatastoreOptions['restore'] = async (backupInfo, call, ini) =>
    (await import('../backup/k2h-restore')).restoreIntoDataFile(restoreDeps, backupInfo, call, ini);
  configuration = new NodeConfiguration({
    store: new OverridesStore(join(agent.stateDir, 'overrides.json')),
    node: manager,
    saveConfig: (text) => base.saveConfig(text),
    role: k2hdkc.mode,
    iniPath: k2hdkc.iniPath,
    mountPoint: agent.mountPoint,
    joinedCluster: async () => clusterOfRole((await loadBootstrap(agent.stateDir))?.roleYrn),
    log: managerLog.child({ component: 'configuration' }),
  });
  // Self-provisioning behind Trove: the context has the token and project id, Keystone knows the name.
  const tokenProjectName: K2hdkcDatastoreOptions['tokenProjectName'] = async (token, context, signal) => {
    const projectId = context['project_id'] ?? context['tenant'];
    // Loaded on first use: the Keystone client brings axios and ajv.
    const { lookupTokenProject } = await import('../keystone/token-project');
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
