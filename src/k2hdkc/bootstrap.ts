import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { K2hr3Error } from '../errors';
import type { Logger } from '../log';
import { fetchExtdata, type ExtdataBootstrap } from '../k2hr3/extdata';
import type { K2hr3HttpOptions } from '../k2hr3/http';
import { K2hr3Provisioner, type ClusterPorts } from '../k2hr3/provision';
import { writeFileAtomic } from '../system/atomic-file';
import type { NodeRole } from './ini/model';

/** How this node gets its K2HR3 role and token (issue 3 item 1). */
export interface BootstrapOptions {
  /** (a) Trove's extdata-url; wins when set. */
  readonly extdataUrl: string | null;
  /** (b) self-provisioning with the user's Keystone token. */
  readonly k2hr3ApiUrl: string | null;
  /** The INI template stored as the `<cluster>` resource (b only). */
  readonly template: (() => Promise<string>) | null;
  readonly clusterName: string;
  /** Ports written into a cluster resource this node creates (b only); default 8020/8021/8031. */
  readonly ports?: ClusterPorts;
  readonly role: NodeRole;
  readonly http: K2hr3HttpOptions;
  readonly log: Logger;
}

/** What the prepare context offers for (b); never logged. */
export interface BootstrapAuth {
  readonly keystoneToken: string | null;
  /** K2HR3 tenant = the Keystone project name the token is scoped to. */
  readonly projectName: string | null;
  /**
   * Finds the project name when the request does not carry it (Trove's context never does):
   * asks Keystone about the token. Called only for self-provisioning.
   */
  readonly lookupProjectName?: (keystoneToken: string, signal?: AbortSignal) => Promise<string>;
  readonly signal?: AbortSignal;
}

/** Runs bootstrap (a) or (b); throws K2hr3Error naming what is missing or what failed. */
export async function bootstrapK2hr3(options: BootstrapOptions, auth: BootstrapAuth): Promise<ExtdataBootstrap> {
  const signal = auth.signal;
  if (options.extdataUrl !== null) {
    options.log.info('K2HR3 bootstrap from the extdata URL');
    return fetchExtdata(options.extdataUrl, { ...options.http, ...(signal ? { signal } : {}) });
  }
  if (options.k2hr3ApiUrl === null) {
    throw new K2hr3Error('bad_request', 'Neither [k2hdkc] extdata_url nor k2hr3_api_url is configured; the node cannot find its cluster in K2HR3.', { endpoint: '-' });
  }
  const keystoneToken = auth.keystoneToken;
  const noProject = auth.projectName === null && auth.lookupProjectName === undefined;
  if (keystoneToken === null || noProject || options.template === null) {
    const missing = keystoneToken === null ? 'the Keystone token (auth_token)' : noProject ? 'the project name' : 'the INI template ([k2hdkc] ini_template_path)';
    throw new K2hr3Error('auth', `K2HR3 self-provisioning needs ${missing} of the prepare request.`, { endpoint: '-' });
  }
  const tenant = auth.projectName ?? (await auth.lookupProjectName!(keystoneToken, signal));
  options.log.info({ cluster: options.clusterName, tenant }, 'K2HR3 self-provisioning');
  const provisioner = new K2hr3Provisioner({ apiUrl: options.k2hr3ApiUrl, ...options.http, log: options.log });
  const result = await provisioner.provision(
    keystoneToken,
    { tenant, cluster: options.clusterName, template: await options.template(), mode: options.role, ...(options.ports ? { ports: options.ports } : {}) },
    signal,
  );
  return { roleYrn: result.roleYrn, tenant: result.tenant, roleToken: result.roleToken, apiUrl: result.apiUrl };
}

export const BOOTSTRAP_STATE_FILE = 'k2hr3-bootstrap.json';

/**
 * The bootstrap result is kept (mode 0600: it holds the role token) so that stop_db, restart,
 * start_db_with_conf_changes and the start after a reboot can deregister, register again and
 * read the INI without Trove's prepare request.
 */
export async function saveBootstrap(stateDir: string, boot: ExtdataBootstrap): Promise<void> {
  await writeFileAtomic(join(stateDir, BOOTSTRAP_STATE_FILE), `${JSON.stringify(boot)}\n`, 0o600);
}

/** The saved bootstrap, or null when there is none or it is unreadable. */
export async function loadBootstrap(stateDir: string): Promise<ExtdataBootstrap | null> {
  try {
    const value = JSON.parse(await fs.readFile(join(stateDir, BOOTSTRAP_STATE_FILE), 'utf8')) as Partial<ExtdataBootstrap>;
    const { roleYrn, tenant, roleToken, apiUrl } = value;
    if (typeof roleYrn !== 'string' || typeof tenant !== 'string' || typeof roleToken !== 'string' || typeof apiUrl !== 'string') return null;
    return { roleYrn, tenant, roleToken, apiUrl };
  } catch {
    return null;
  }
}
