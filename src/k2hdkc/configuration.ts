import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { NotSupportedError } from '../errors';
import type { Logger } from '../log';
import type { NodeRole } from './ini/model';
import {
  bootstrapSettings,
  isDynamic,
  overlayIni,
  parseConfigContents,
  validateSettings,
  type BootstrapSettings,
  type OverridesStore,
  type Settings,
} from './overrides';
import { DEFAULT_CLUSTER_PORTS } from '../k2hr3/provision';
import { writeFileAtomic } from '../system/atomic-file';
import { BOOTSTRAP_STATE_FILE } from './bootstrap';
import { SERVED_INI_FILE } from './served-ini';

/** What the configuration service needs of the K2HDKC manager. */
export interface ConfigurableNode {
  setMergeSuspended(suspended: boolean, signal?: AbortSignal): Promise<string>;
  stopDb(options: { readonly deregister: boolean }): Promise<void>;
  restart(signal?: AbortSignal): Promise<void>;
}

export interface NodeConfigurationOptions {
  readonly store: OverridesStore;
  readonly node: ConfigurableNode;
  /** Keeps config_contents (the base datastore's saved copy). */
  readonly saveConfig: (configContents: string) => Promise<void>;
  readonly role: NodeRole;
  readonly iniPath: string;
  /** The data volume: survives a VM rebuild, so the upgrade copy of the INI lives there. */
  readonly mountPoint: string;
  /**
   * The K2HDKC cluster the node joined at prepare (lower-case, as K2HR3 keeps it), or null before
   * prepare: a configuration naming another cluster cannot move a running node.
   */
  readonly joinedCluster?: () => Promise<string | null>;
  readonly log: Logger;
}

/** Live appliers of the dynamic parameters (restart_required=false in validation-rules.json). */
type LiveApplier = (node: ConfigurableNode, value: string | number | boolean, signal?: AbortSignal) => Promise<string>;
const LIVE: Readonly<Record<string, LiveApplier>> = {
  // chmpx's own control-port command: SUSPENDMERGE / NOSUSPENDMERGE, ring-wide.
  'chmpx-suspend-merge': (node, value, signal) => node.setMergeSuspended(value === true, signal),
};

const UPGRADE_DIR = '.k2hdkc-trove-upgrade';

/**
 * Trove's configuration groups, resize revert and in-place upgrade for a K2HDKC node: overrides
 * are validated against the rules and kept (OverridesStore); the INI keys among them are set on
 * the INI K2HR3 serves whenever it is written and on restart; the dynamic ones are applied live.
 */
export class NodeConfiguration {
  constructor(private readonly options: NodeConfigurationOptions) {}

  /** The manager's iniOverlay: the INI-key overrides in force now, set on the served text. */
  readonly iniOverlay = async (served: string): Promise<string> => overlayIni(served, await this.options.store.load(), this.options.role);

  /**
   * prepare: config_contents (rendered config.template) and the attached group's overrides are
   * validated, the overrides kept, and the bootstrap values returned (overrides win). Throws on
   * any invalid value, so prepare fails naming it before anything is registered or started.
   */
  async prepareSettings(configContents: string | null, overrides: Readonly<Record<string, unknown>> | null): Promise<BootstrapSettings> {
    const fromTemplate = configContents === null ? { settings: {}, ignored: [] } : parseConfigContents(configContents);
    if (fromTemplate.ignored.length > 0) this.options.log.warn({ ignored: fromTemplate.ignored }, 'config_contents lines that are not K2HDKC parameters were ignored');
    const fromGroup = overrides === null ? {} : validateSettings(overrides, 'overrides');
    await this.options.store.save(fromGroup);
    return bootstrapSettings({ ...fromTemplate.settings, ...fromGroup }, DEFAULT_CLUSTER_PORTS);
  }

  /** update_overrides: the group's full set replaces the kept one; remove=true drops it. Nothing is applied yet. */
  async updateOverrides(overrides: Readonly<Record<string, unknown>>, remove: boolean): Promise<void> {
    if (remove) {
      await this.options.store.clear();
      this.options.log.info('configuration overrides removed; INI values go back to K2HR3\'s at the next restart');
      return;
    }
    const valid = validateSettings(overrides, 'overrides');
    await this.refuseOtherCluster(valid['cluster-name']);
    await this.options.store.save(valid);
    const bootstrapOnly = Object.keys(valid).filter((n) => ['cluster-name', 'extdata-url', 'chmpx-server-port', 'chmpx-server-ctlport', 'chmpx-slave-ctlport'].includes(n));
    if (bootstrapOnly.length > 0) this.options.log.warn({ names: bootstrapOnly }, 'these parameters are read at prepare only; a running node keeps its cluster and ports');
    this.options.log.info({ names: Object.keys(valid) }, 'configuration overrides kept');
  }

  /**
   * A node joins its K2HDKC cluster at prepare (K2HR3 role, chmpx GROUP); a group that names
   * another one would be kept and never honoured. Refused before anything is kept, so Trove
   * leaves the configuration as it was (configuration attach answers with the reason).
   */
  private async refuseOtherCluster(wanted: Settings[string] | undefined): Promise<void> {
    if (typeof wanted !== 'string' || wanted === '' || this.options.joinedCluster === undefined) return;
    const joined = await this.options.joinedCluster();
    if (joined === null || joined === wanted.toLowerCase()) return;
    throw new NotSupportedError(
      `configuration attach/set with cluster-name ${JSON.stringify(wanted)}: this node is a member of K2HDKC cluster ${JSON.stringify(joined)}, ` +
        'and a node joins its cluster at instance create only (create a new instance in that cluster instead)',
    );
  }

  /**
   * apply_overrides: only when every value is dynamic (Trove's own rule); otherwise nothing is
   * applied and DatastoreOperationNotSupported names the parameters that need a restart.
   */
  async applyOverrides(overrides: Readonly<Record<string, unknown>>, signal?: AbortSignal): Promise<void> {
    const valid: Settings = validateSettings(overrides, 'overrides');
    const needRestart = Object.keys(valid).filter((name) => !isDynamic(name));
    if (needRestart.length > 0) throw new NotSupportedError(`apply_overrides (${needRestart.join(', ')} take effect on restart only)`);
    for (const [name, value] of Object.entries(valid)) {
      const apply = LIVE[name];
      if (apply === undefined) throw new NotSupportedError(`apply_overrides (${name} has no live applier)`);
      const reply = await apply(this.options.node, value, signal);
      this.options.log.info({ name, value, reply }, 'configuration value applied live');
    }
  }

  /** reset_configuration (flavor resize revert): the given config_contents, validated, becomes the kept one. */
  async resetConfiguration(configContents: string | null): Promise<void> {
    if (configContents === null) return;
    parseConfigContents(configContents);
    await this.options.saveConfig(configContents);
  }

  /**
   * pre_upgrade: copies the INI, the served INI and the overrides onto the data volume (which a
   * rebuild keeps) and tells Trove where; Trove adds datastore_version and sends it to upgrade.
   */
  async preUpgrade(stateDir: string): Promise<Record<string, unknown>> {
    const dir = join(this.options.mountPoint, UPGRADE_DIR);
    await fs.mkdir(dir, { recursive: true, mode: 0o750 });
    const saved: string[] = [];
    for (const [from, name] of [
      [this.options.iniPath, 'k2hdkc.ini'],
      [join(stateDir, SERVED_INI_FILE), SERVED_INI_FILE],
      [this.options.store.path, 'overrides.json'],
      [join(stateDir, BOOTSTRAP_STATE_FILE), BOOTSTRAP_STATE_FILE],
    ] as const) {
      const text = await fs.readFile(from, 'utf8').catch(() => undefined);
      if (text === undefined) continue;
      await writeFileAtomic(join(dir, name), text, name === BOOTSTRAP_STATE_FILE ? 0o600 : 0o640);
      saved.push(name);
    }
    this.options.log.info({ dir, saved }, 'pre_upgrade: node configuration copied to the data volume');
    return { k2hdkc_upgrade_dir: dir, k2hdkc_saved: saved, mount_point: this.options.mountPoint };
  }

  /**
   * upgrade / post_upgrade: stop the node (it stays registered), put back whatever of the copy a
   * rebuild lost, then start it with the kept INI and data and wait for healthy.
   */
  async upgrade(info: Readonly<Record<string, unknown>>, stateDir: string, signal?: AbortSignal): Promise<void> {
    this.options.log.info({ datastoreVersion: info['datastore_version'] ?? null }, 'upgrade: restarting the node on its kept INI and data');
    await this.options.node.stopDb({ deregister: false });
    const dir = typeof info['k2hdkc_upgrade_dir'] === 'string' ? info['k2hdkc_upgrade_dir'] : join(this.options.mountPoint, UPGRADE_DIR);
    for (const [name, to, mode] of [
      ['k2hdkc.ini', this.options.iniPath, 0o640],
      [SERVED_INI_FILE, join(stateDir, SERVED_INI_FILE), 0o640],
      ['overrides.json', this.options.store.path, 0o640],
      [BOOTSTRAP_STATE_FILE, join(stateDir, BOOTSTRAP_STATE_FILE), 0o600],
    ] as const) {
      if (await fs.stat(to).then(() => true, () => false)) continue;
      const text = await fs.readFile(join(dir, name), 'utf8').catch(() => undefined);
      if (text === undefined) continue;
      await fs.mkdir(dirname(to), { recursive: true, mode: 0o755 });
      await writeFileAtomic(to, text, mode);
      this.options.log.info({ file: to }, 'upgrade: restored from the data volume');
    }
    await this.options.node.restart(signal);
  }
}
