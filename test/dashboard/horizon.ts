/*
 * Horizon for tests: Debian's openstack-dashboard 23 with python3-trove-dashboard 19, unmodified,
 * our drop-in installed into `openstack_dashboard.local.enabled` as the operator guide says (here:
 * a private directory appended to that package's search path, so the machine's files stay as
 * dpkg installed them), served on loopback by uwsgi.
 *
 * Debian's local_settings.d snippets force DEBUG = False, COMPRESS_OFFLINE = True and a system
 * STATIC_ROOT; a settings module of our own imports openstack_dashboard.settings and points
 * STATIC_ROOT at the run's directory, where `collectstatic` and `compress` (offline, as Debian
 * does) put the assets uwsgi serves.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import axios from 'axios';
import { waitFor } from '../conformance/helpers/poll';
import { startProcess, stopProcess, tail, type Managed } from '../e2e/helpers/processes';
import { freePort } from '../helpers/free-port';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const MANAGE = '/usr/share/openstack-dashboard/manage.py';
const UWSGI = '/usr/bin/uwsgi';
const SETTINGS = 'k2hdkc_horizon_settings';

export interface HorizonFixture {
  /** `http://127.0.0.1:P/` (WEBROOT `/`). */
  readonly url: string;
  readonly dir: string;
  logTail(): string;
  stop(keep?: boolean): Promise<void>;
}

export interface HorizonOptions {
  /** Keystone v3 URL (`http://127.0.0.1:P/v3`). */
  readonly keystoneUrl: string;
  /** Files an operator copies into openstack_dashboard/local/enabled/. */
  readonly enabledFiles: readonly string[];
}

function settingsModule(): string {
  return `# Test settings: Debian's Horizon settings, then what this run needs.
import os

import openstack_dashboard.local.enabled as _local_enabled

# The operator's drop-ins ("copy into openstack_dashboard/local/enabled/"), without writing
# into the installed package.
_local_enabled.__path__.append(os.environ['K2HDKC_HORIZON_ENABLED'])

from openstack_dashboard.settings import *  # noqa: E402,F401,F403

DEBUG = False
COMPRESS_ENABLED = True
COMPRESS_OFFLINE = True
STATIC_ROOT = os.environ['K2HDKC_HORIZON_STATIC']
COMPRESS_ROOT = STATIC_ROOT
ALLOWED_HOSTS = ['127.0.0.1', 'localhost']
SECRET_KEY = os.environ['K2HDKC_HORIZON_SECRET']
OPENSTACK_KEYSTONE_URL = os.environ['K2HDKC_HORIZON_KEYSTONE']
OPENSTACK_KEYSTONE_DEFAULT_ROLE = 'member'
SESSION_ENGINE = 'django.contrib.sessions.backends.signed_cookies'
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
CACHES = {'default': {'BACKEND': 'django.core.cache.backends.locmem.LocMemCache'}}
SESSION_TIMEOUT = 14400
`;
}

const WSGI = `import os

os.environ['DJANGO_SETTINGS_MODULE'] = '${SETTINGS}'

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
`;

/** Starts Horizon; collectstatic + compress dominate (~15–40 s on two cores). */
export async function startHorizon(options: HorizonOptions): Promise<HorizonFixture> {
  const dir = await mkdtemp(path.join(tmpdir(), 'k2hdkc-horizon-'));
  const site = path.join(dir, 'site');
  const enabled = path.join(dir, 'local-enabled');
  const staticRoot = path.join(dir, 'static');
  await Promise.all([site, enabled, staticRoot].map((d) => mkdir(d, { recursive: true, mode: 0o700 })));
  for (const file of options.enabledFiles) await copyFile(file, path.join(enabled, path.basename(file)));
  await writeFile(path.join(site, `${SETTINGS}.py`), settingsModule(), { mode: 0o600 });
  await writeFile(path.join(site, 'k2hdkc_horizon_wsgi.py'), WSGI, { mode: 0o600 });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PYTHONPATH: site,
    PYTHONDONTWRITEBYTECODE: '1',
    DJANGO_SETTINGS_MODULE: SETTINGS,
    K2HDKC_HORIZON_ENABLED: enabled,
    K2HDKC_HORIZON_STATIC: staticRoot,
    K2HDKC_HORIZON_SECRET: `k2hdkc-test-${Math.random().toString(36).slice(2)}`,
    K2HDKC_HORIZON_KEYSTONE: options.keystoneUrl,
  };
  let server: Managed | undefined;
  const stop = async (keep = false): Promise<void> => {
    if (server !== undefined) await stopProcess(server, 5000);
    server = undefined;
    if (!keep) await rm(dir, { recursive: true, force: true });
  };
  try {
    await run(PYTHON, [MANAGE, 'collectstatic', '--noinput', '-v', '0'], { env, cwd: dir, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 });
    await run(PYTHON, [MANAGE, 'compress', '--force', '-v', '0'], { env, cwd: dir, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 });
    const port = await freePort();
    const ini = [
      '[uwsgi]',
      'plugins = python3',
      `http-socket = 127.0.0.1:${port}`,
      `pythonpath = ${site}`,
      'module = k2hdkc_horizon_wsgi:application',
      `static-map = /static=${staticRoot}`,
      'processes = 1',
      'threads = 4',
      'master = true',
      'need-app = true',
      'die-on-term = true',
      'no-orphans = true',
      'buffer-size = 65535',
      'add-header = Connection: close',
      `chdir = ${dir}`,
      '',
    ].join('\n');
    await writeFile(path.join(dir, 'uwsgi.ini'), ini, { mode: 0o600 });
    const started = startProcess('horizon', UWSGI, ['--ini', path.join(dir, 'uwsgi.ini')], { env, cwd: dir, logPath: path.join(dir, 'uwsgi.log') });
    server = started;
    const url = `http://127.0.0.1:${port}/`;
    await waitFor('Horizon to answer', async () => {
      if (started.exitCode() !== undefined) throw new Error(`horizon (uwsgi) exited:\n${tail(started.logPath)}`);
      const res = await axios.get(`${url}auth/login/`, { timeout: 10_000, validateStatus: () => true }).catch(() => undefined);
      return res?.status === 200 ? true : undefined;
    }, { timeoutMs: 120_000, intervalMs: 500 });
    return { url, dir, logTail: () => tail(started.logPath, 6000), stop };
  } catch (error) {
    await stop(true);
    throw new Error(`Horizon did not start (kept ${dir}): ${error instanceof Error ? error.message : String(error)}`);
  }
}
