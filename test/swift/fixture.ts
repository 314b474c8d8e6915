/*
 * A real Swift for tests: Debian's proxy, account, container and object servers plus a private
 * memcached (tempauth keeps its tokens there), one replica, storage in a temp directory, each
 * started as a child process with an argument array. `startSwift()` returns a tempauth token and
 * the account's storage URL; `stop()` ends every process and removes the directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { access, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import axios from 'axios';
import { freePort } from '../helpers/free-port';
import {
  TEST_ACCOUNT, TEST_KEY, TEST_USER, accountServerConf, containerServerConf, objectServerConf, proxyServerConf,
  swiftConf, type SwiftKeystoneAuth, type SwiftPorts,
} from './config';

/** Swift behind Keystone: the proxy's service user, and a token whose account proves the chain. */
export interface SwiftKeystoneOptions extends SwiftKeystoneAuth {
  readonly probe: { readonly token: string; readonly projectId: string };
}

export type SwiftServer = 'proxy' | 'account' | 'container' | 'object';

export interface SwiftFixture {
  /** Storage URL of the test account, e.g. `http://127.0.0.1:P/v1/AUTH_test`. */
  url: string;
  token: string;
  account: string;
  /** tempauth's `/auth/v1.0` endpoint. */
  authUrl: string;
  /** The temp directory (configs, rings, `srv/d1` storage). */
  dir: string;
  /** Stops one server (SIGTERM, then waits for it to exit). */
  stopServer(name: SwiftServer): Promise<void>;
  /** Starts a stopped server again on its port and waits until it answers. */
  startServer(name: SwiftServer): Promise<void>;
  stop(): Promise<void>;
}

const BINARIES: Record<SwiftServer, string> = {
  proxy: '/usr/bin/swift-proxy-server',
  account: '/usr/bin/swift-account-server',
  container: '/usr/bin/swift-container-server',
  object: '/usr/bin/swift-object-server',
};
const READY_TIMEOUT_MS = 30_000;

function run(cmd: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

/*
 * swift-ring-builder is slow to start (≈1.5 s per call, nine calls). It builds the three rings once
 * per machine into a cache with a placeholder port; each fixture copies them with its own ports
 * spliced into the ring header (v1 format: "R1NG", u16 version, u32 JSON length, JSON, tables).
 */
const PLACEHOLDER_PORT = 1;
const RING_KINDS = ['account', 'container', 'object'] as const;

async function buildRing(dir: string, kind: (typeof RING_KINDS)[number]): Promise<void> {
  const builder = join(dir, `${kind}.builder`);
  const steps: string[][] = [
    ['create', '6', '1', '0'],
    ['add', '--region', '1', '--zone', '1', '--ip', '127.0.0.1', '--port', String(PLACEHOLDER_PORT), '--device', 'd1', '--weight', '100'],
    ['rebalance'],
  ];
  for (const step of steps) {
    const { code, output } = await run('/usr/bin/swift-ring-builder', [builder, ...step]);
    // rebalance exits 1 for warnings (a one-device ring always warns about balance/dispersion).
    if (code !== 0 && !(step[0] === 'rebalance' && code === 1)) {
      throw new Error(`swift-ring-builder ${kind} ${step[0]} exited ${code}: ${output}`);
    }
  }
}

async function cachedRings(): Promise<string> {
  const cache = join(tmpdir(), `k2hdkc-trove-swift-rings-${process.getuid?.() ?? 'u'}`);
  try {
    await Promise.all(RING_KINDS.map((k) => readFile(join(cache, `${k}.ring.gz`))));
    return cache;
  } catch {
    // Built in a private directory and renamed, so parallel runs never see half a cache.
    const work = await mkdtemp(`${cache}.tmp-`);
    await Promise.all(RING_KINDS.map((k) => buildRing(work, k)));
    await rename(work, cache).catch(async () => { await rm(work, { recursive: true, force: true }); });
    return cache;
  }
}

async function writeRing(cache: string, dir: string, kind: (typeof RING_KINDS)[number], port: number): Promise<void> {
  const raw = gunzipSync(await readFile(join(cache, `${kind}.ring.gz`)));
  if (raw.subarray(0, 4).toString('latin1') !== 'R1NG') throw new Error(`${kind}.ring.gz is not a v1 ring`);
  const jsonLen = raw.readUInt32BE(6);
  const header = JSON.parse(raw.subarray(10, 10 + jsonLen).toString('utf8')) as { devs: ({ port: number; replication_port?: number } | null)[] };
  for (const dev of header.devs) if (dev) { dev.port = port; dev.replication_port = port; }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(json.length);
  await writeFile(join(dir, `${kind}.ring.gz`), gzipSync(Buffer.concat([raw.subarray(0, 6), len, json, raw.subarray(10 + jsonLen)])));
}

async function tcpAnswers(port: number): Promise<boolean> {
  try {
    const res = await axios.get(`http://127.0.0.1:${port}/healthcheck`, { timeout: 1000, validateStatus: () => true });
    return res.status < 500 || res.status === 507;
  } catch {
    return false;
  }
}

/**
 * Starts a private Swift; about 3–6 s on a two-core machine. With `keystone`, tokens are
 * Keystone's (authtoken + keystoneauth) and `url`/`token` are the probe project's account.
 */
export async function startSwift(options: { readonly keystone?: SwiftKeystoneOptions } = {}): Promise<SwiftFixture> {
  for (const bin of [...Object.values(BINARIES), '/usr/bin/swift-ring-builder', '/usr/bin/memcached']) {
    await access(bin).catch(() => {
      throw new Error(`${bin} is missing: run scripts/setup-test-env.sh (Debian swift and memcached packages)`);
    });
  }
  const dir = await mkdtemp(join(tmpdir(), 'k2hdkc-swift-'));
  const procs = new Map<SwiftServer | 'memcached', ChildProcess>();
  const logs = new Map<string, string>();
  const ports: SwiftPorts = {
    proxy: await freePort(), account: await freePort(), container: await freePort(),
    object: await freePort(), memcached: await freePort(),
  };
  const confs: Record<SwiftServer, string> = {
    proxy: join(dir, 'proxy-server.conf'), account: join(dir, 'account-server.conf'),
    container: join(dir, 'container-server.conf'), object: join(dir, 'object-server.conf'),
  };

  const launch = (name: SwiftServer | 'memcached', cmd: string, args: string[]): void => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    logs.set(name, '');
    const keep = (d: Buffer): void => { logs.set(name, ((logs.get(name) ?? '') + d.toString()).slice(-4000)); };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('error', keep.bind(null, Buffer.from('spawn error\n')));
    procs.set(name, child);
  };
  const kill = async (name: SwiftServer | 'memcached'): Promise<void> => {
    const child = procs.get(name);
    procs.delete(name);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const done = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
    if (!done) {
      child.kill('SIGKILL');
      await exited;
    }
  };
  const waitFor = async (name: SwiftServer): Promise<void> => {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!(await tcpAnswers(ports[name]))) {
      const child = procs.get(name);
      if (!child || child.exitCode !== null) throw new Error(`swift ${name} server exited: ${logs.get(name) ?? ''}`);
      if (Date.now() > deadline) throw new Error(`swift ${name} server did not answer: ${logs.get(name) ?? ''}`);
      await sleep(100);
    }
  };
  const startServer = async (name: SwiftServer): Promise<void> => {
    launch(name, BINARIES[name], [confs[name]]);
    await waitFor(name);
  };
  const stop = async (): Promise<void> => {
    await Promise.all([...procs.keys()].map((n) => kill(n)));
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await mkdir(join(dir, 'srv', 'd1'), { recursive: true });
    await writeFile(join(dir, 'swift.conf'), swiftConf());
    await writeFile(confs.proxy, proxyServerConf(dir, ports, options.keystone));
    await writeFile(confs.account, accountServerConf(dir, ports));
    await writeFile(confs.container, containerServerConf(dir, ports));
    await writeFile(confs.object, objectServerConf(dir, ports));
    const cache = await cachedRings();
    await Promise.all(RING_KINDS.map((k) => writeRing(cache, dir, k, ports[k])));
    launch('memcached', '/usr/bin/memcached', ['-l', '127.0.0.1', '-p', String(ports.memcached), '-U', '0', '-m', '16', ...(process.getuid?.() === 0 ? ['-u', 'nobody'] : [])]);
    await Promise.all((['account', 'container', 'object', 'proxy'] as const).map((n) => startServer(n)));
    const keystone = options.keystone;
    const authUrl = keystone === undefined ? `http://127.0.0.1:${ports.proxy}/auth/v1.0` : `${keystone.baseUrl}/v3`;
    const { token, url } = keystone === undefined
      ? await authenticate(authUrl)
      : await accountAnswers(`http://127.0.0.1:${ports.proxy}/v1/AUTH_${keystone.probe.projectId}`, keystone.probe.token);
    return {
      url, token, account: keystone === undefined ? `AUTH_${TEST_ACCOUNT}` : `AUTH_${keystone.probe.projectId}`, authUrl, dir,
      stopServer: kill, startServer, stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** With Keystone: the probe token's account answers (created on first use). */
async function accountAnswers(url: string, token: string): Promise<{ token: string; url: string }> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const head = await axios.head(url, { headers: { 'X-Auth-Token': token }, validateStatus: () => true }).catch(() => undefined);
    if (head?.status === 204 || head?.status === 200) return { token, url };
    if (Date.now() > deadline) throw new Error(`Swift behind Keystone did not accept the probe token (HTTP ${head?.status ?? 'none'})`);
    await sleep(200);
  }
}

/** tempauth v1: user and key in headers; the answer carries the token and the storage URL. */
async function authenticate(authUrl: string): Promise<{ token: string; url: string }> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const res = await axios.get(authUrl, {
      headers: { 'X-Auth-User': `${TEST_ACCOUNT}:${TEST_USER}`, 'X-Auth-Key': TEST_KEY },
      validateStatus: () => true,
    }).catch(() => undefined);
    const token = res?.headers['x-auth-token'];
    const url = res?.headers['x-storage-url'];
    if (res?.status === 200 && typeof token === 'string' && typeof url === 'string') {
      // The account is created on first use (account_autocreate); a HEAD proves the whole chain.
      const head = await axios.head(url, { headers: { 'X-Auth-Token': token }, validateStatus: () => true });
      if (head.status === 204 || head.status === 200) return { token, url };
    }
    if (Date.now() > deadline) throw new Error(`tempauth did not issue a usable token (HTTP ${res?.status ?? 'none'})`);
    await sleep(200);
  }
}
