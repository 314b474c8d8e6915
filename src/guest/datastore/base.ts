import { constants, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { STATUS, type ServiceStatus } from '../../conductor/statuses';
import { SystemError } from '../../errors';
import type { Logger } from '../../log';
import type { CallContext } from '../../rpc/types';
import { writeFileAtomic } from '../../system/atomic-file';
import type { Datastore, PrepareRequest } from './contract';

export interface BaseDatastoreOptions {
  /** The configured data directory ([k2hdkc] mount_point). */
  readonly mountPoint: string;
  /** Where config_contents is kept. */
  readonly stateDir: string;
  readonly log: Logger;
  /** File name of the saved config_contents inside stateDir. */
  readonly configFileName?: string;
}

const MOUNT_POINT_MODE = 0o750;
const CONFIG_MODE = 0o640;

/**
 * The part of prepare every datastore shares: the data directory exists and is writable, and the
 * rendered `config_contents` is saved. Its status() is only a volume check ("the data directory is
 * a writable directory" -> `healthy`, else `shutdown`); it knows nothing about a database process.
 * Issue 3's K2HDKC manager extends this and replaces status() with the chmpx control-port health.
 */
export class BaseDatastore implements Datastore {
  protected readonly mountPoint: string;
  protected readonly stateDir: string;
  protected readonly log: Logger;
  readonly configPath: string;

  constructor(options: BaseDatastoreOptions) {
    this.mountPoint = options.mountPoint;
    this.stateDir = options.stateDir;
    this.log = options.log;
    this.configPath = join(options.stateDir, options.configFileName ?? 'datastore.conf');
  }

  async prepare(request: PrepareRequest, _call: CallContext): Promise<void> {
    // The controller derives mount_point from the same [<manager>] group that produced our
    // config, so they normally agree; we keep to the configured one so that status and
    // get_filesystem_stats look at the directory that was prepared, also after a restart.
    if (request.mountPoint !== null && request.mountPoint !== this.mountPoint) {
      this.log.warn({ requested: request.mountPoint, configured: this.mountPoint }, 'prepare mount_point differs from the configured one; using the configured one');
    }
    await ensureWritableDirectory(this.mountPoint, MOUNT_POINT_MODE);
    if (request.configContents !== null) await this.saveConfig(request.configContents);
  }

  /** Keeps the rendered config_contents (prepare, start_db_with_conf_changes). */
  async saveConfig(configContents: string): Promise<void> {
    await writeFileAtomic(this.configPath, configContents, CONFIG_MODE);
  }

  async status(): Promise<ServiceStatus> {
    return (await isWritableDirectory(this.mountPoint)) ? STATUS.HEALTHY : STATUS.SHUTDOWN;
  }
}

/** mkdir -p with `mode` for what it creates; throws SystemError unless the result is a writable directory. */
export async function ensureWritableDirectory(path: string, mode: number): Promise<void> {
  try {
    await fs.mkdir(path, { recursive: true, mode });
  } catch (cause) {
    throw new SystemError(`Could not create the data directory ${path}: ${(cause as Error).message}`, { cause });
  }
  if (!(await isWritableDirectory(path))) {
    throw new SystemError(`The data directory ${path} is not a writable directory; check the volume mount and its permissions.`);
  }
}

/** True when `path` is a directory this process may create files in. */
export async function isWritableDirectory(path: string): Promise<boolean> {
  try {
    if (!(await fs.stat(path)).isDirectory()) return false;
    await fs.access(path, constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
