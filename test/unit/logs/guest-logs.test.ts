import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NotSupportedError } from '../../../src/errors';
import { logMethods } from '../../../src/guest/methods/logs';
import { GuestLogs, k2hdkcLogSources } from '../../../src/logs/guest-logs';
import { captureLogger } from '../conductor/recording-caster';
import { invoke } from '../guest/methods/method-call';

/**
 * Swift's object API as the guest uses it, over HTTP: PUT container, PUT object (ETag = md5),
 * DELETE object (404 when absent). It keeps the objects, so a test asks what is left.
 */
async function objectStore(): Promise<{ url: string; objects: Map<string, Buffer>; server: Server }> {
  const objects = new Map<string, Buffer>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/v1\/AUTH_p1\//, '');
      const isObject = path.includes('/');
      if (req.method === 'PUT' && !isObject) return res.writeHead(201).end();
      if (req.method === 'PUT') {
        const body = Buffer.concat(chunks);
        objects.set(path, body);
        return res.writeHead(201, { ETag: createHash('md5').update(body).digest('hex') }).end();
      }
      if (req.method === 'DELETE' && isObject) return res.writeHead(objects.delete(path) ? 204 : 404).end();
      res.writeHead(405).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/AUTH_`, objects, server };
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

describe('guest logs', () => {
  function logs(swiftUrl: string | null = null) {
    const dir = mkdtempSync(join(tmpdir(), 'k2h-logs-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'chmpx.log'), 'line\n');
    writeFileSync(join(dir, 'k2hdkc.log'), '');
    const { log } = captureLogger();
    const guestLogs = new GuestLogs({
      sources: k2hdkcLogSources(null, dir),
      guestId: 'g1',
      datastoreManager: 'k2hdkc',
      statePath: join(dir, 'guest-logs.json'),
      swift: { swiftUrl, serviceType: 'object-store', endpointType: 'publicURL', region: 'RegionOne' },
      log,
    });
    const action = logMethods({ guestId: 'g1', datastoreManager: 'k2hdkc', guestLogFile: null, guestLogs }).find((e) => e.name === 'guest_log_action');
    return { dir, guestLogs, action };
  }
  const flags = { enable: false, disable: false, publish: false, discard: false };

  it('list the agent, chmpx and k2hdkc logs with Trove\'s statuses before anything is published', async () => {
    const { guestLogs } = logs();
    expect(await guestLogs.list()).toEqual([
      { name: 'guest', type: 'SYS', status: 'Unavailable', published: 0, pending: 0, container: 'None', prefix: 'None', metafile: 'g1/k2hdkc-guest_metafile' },
      { name: 'chmpx', type: 'SYS', status: 'Ready', published: 0, pending: 5, container: 'None', prefix: 'None', metafile: 'g1/k2hdkc-chmpx_metafile' },
      { name: 'k2hdkc', type: 'SYS', status: 'Enabled', published: 0, pending: 0, container: 'None', prefix: 'None', metafile: 'g1/k2hdkc-k2hdkc_metafile' },
    ]);
  });

  it('guest_log_action shows one log; refuses unknown names, disable, and publishing without a token or Swift endpoint', async () => {
    const { action } = logs();
    expect(await invoke(action, { log_name: 'chmpx', ...flags, enable: true })).toMatchObject({ name: 'chmpx', status: 'Ready', pending: 5 });
    await expect(invoke(action, { log_name: 'mysql', ...flags })).rejects.toThrow(/No log named 'mysql'; this guest has guest, chmpx, k2hdkc/);
    await expect(invoke(action, { log_name: 'chmpx', ...flags, disable: true })).rejects.toBeInstanceOf(NotSupportedError);
    // The unit context has no token; with one but no swift_url and no catalog, the endpoint is missing.
    await expect(invoke(action, { log_name: 'chmpx', ...flags, publish: true })).rejects.toThrow(/needs the user's token/);
    await expect(invoke(action, { log_name: 'guest', ...flags, publish: true })).rejects.toThrow(/guest has no log file on this guest/);
  });

  it('publishing an empty log records it, so discard removes the metafile it wrote', async () => {
    const swift = await objectStore();
    cleanups.push(() => swift.server.close());
    const { guestLogs } = logs(swift.url);
    const context = { auth_token: 'user-token', project_id: 'p1' };
    // k2hdkc.log is empty: nothing to upload, only the metafile.
    const published = await guestLogs.action('k2hdkc', { ...flags, publish: true }, context);
    expect(published).toMatchObject({ name: 'k2hdkc', status: 'Enabled', published: 0, pending: 0 });
    expect([...swift.objects.keys()]).toEqual(['database_logs/g1/k2hdkc-k2hdkc_metafile']);
    await guestLogs.action('k2hdkc', { ...flags, discard: true }, context);
    expect([...swift.objects.keys()]).toEqual([]);
  });
});
