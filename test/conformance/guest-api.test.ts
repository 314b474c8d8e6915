import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AgentProcess } from './helpers/agent-process';
import { useConformanceEnv, type Guest } from './helpers/env';
import { waitFor } from './helpers/poll';
import { BROKER_URL, waitForConsumer } from './helpers/rabbit';

// Acceptance 1: the real agent driven by trove.guestagent.api.API (Debian's python3-trove) over
// the real RabbitMQ, with and without secure RPC, at both version caps.

const run = promisify(execFile);
const GB = 1024 ** 3;

/** `df -B1` for one path: the numbers statvfs gives, computed by coreutils. */
async function df(target: string): Promise<{ size: number; used: number; avail: number }> {
  const { stdout } = await run('df', ['-B1', '--output=size,used,avail', target]);
  const fields = stdout.trim().split('\n')[1]?.trim().split(/\s+/).map(Number);
  if (fields === undefined || fields.length !== 3) throw new Error(`cannot parse df output: ${stdout}`);
  const [size = 0, used = 0, avail = 0] = fields;
  return { size, used, avail };
}

async function queueDepth(queue: string): Promise<number> {
  const conn = await amqp.connect(BROKER_URL);
  try {
    const ch = await conn.createChannel();
    return (await ch.checkQueue(queue)).messageCount;
  } finally {
    await conn.close();
  }
}

/** What Trove's prepare sends for a plain data-directory guest (taskmanager defaults). */
function prepareArgs(guest: Guest): Record<string, unknown> {
  return {
    memory_mb: 512,
    packages: '',
    databases: [],
    users: [],
    device_path: '/dev/null-conformance',
    mount_point: guest.files.mountPoint,
    config_contents: '[k2hdkc]\nport = 8020\n',
    overrides: { maxthread: 4 },
    ds_version: '1.0.14',
  };
}

const env = useConformanceEnv({ conductor: true });

describe.each([
  { mode: 'encrypted (instance key)', secure: true },
  { mode: 'plain (enable_secure_rpc_messaging=False)', secure: false },
])('Trove guest API, $mode', ({ secure }) => {
  let guest: Guest;
  let agent: AgentProcess;

  beforeAll(async () => {
    guest = await env.addGuest({ secure });
  });

  it('handles a prepare cast that Trove sent before the agent started', async () => {
    const sent = await env.harness.invoke(guest.id, guest.tenantId, 'prepare', {
      kwargs: prepareArgs(guest),
      notification: true,
    });
    expect(sent).toMatchObject({ ok: true, result: null });
    // API.prepare pre-created the queue; the cast waits there with no consumer.
    expect(await queueDepth(guest.queue)).toBe(1);
    expect(await env.harness.status(guest.id)).toMatchObject({ status_description: 'new' });

    agent = env.startAgent(guest);
    const row = await waitFor('the conductor to record healthy', async () => {
      const status = await env.harness.status(guest.id);
      return status?.status_description === 'healthy' ? status : undefined;
    });
    expect(row.status_id).toBe(0x21);
    expect(existsSync(path.join(guest.files.stateDir, '.guestagent.prepare.end'))).toBe(true);
    expect(await queueDepth(guest.queue)).toBe(0);
  });

  it.each(['latest', 'ussuri'])('answers rpc_ping with True at version cap %s', async (cap) => {
    await waitForConsumer(guest.queue);
    const reply = await env.harness.invoke(guest.id, guest.tenantId, 'rpc_ping', { cap });
    expect(reply).toEqual({ ok: true, result: true, cap_version: cap === 'latest' ? '1.1' : '1.0' });
  });

  it.each(['latest', 'ussuri'])('get_volume_info (fs_path None) agrees with df at cap %s', async (cap) => {
    const reply = await env.harness.invoke(guest.id, guest.tenantId, 'get_volume_info', { cap });
    if (!reply.ok) throw new Error(`get_volume_info failed: ${reply.error.message}`);
    expectStatsMatchDf(reply.result, await df(guest.files.mountPoint));
  });

  it('get_filesystem_stats for an explicit fs_path agrees with df for that path', async () => {
    const target = existsSync('/dev/shm') ? '/dev/shm' : '/';
    const reply = await env.harness.callMethod(guest.id, guest.tenantId, 'get_filesystem_stats', {
      kwargs: { fs_path: target },
    });
    if (!reply.ok) throw new Error(`get_filesystem_stats failed: ${reply.error.message}`);
    expectStatsMatchDf(reply.result, await df(target));
  });

  it.each(['latest', 'ussuri'])('an SQL-only method surfaces as GuestError with NoSuchMethod at cap %s', async (cap) => {
    const reply = await env.harness.invoke(guest.id, guest.tenantId, 'list_databases', { cap });
    expect(reply.ok).toBe(false);
    if (reply.ok) return;
    expect(reply.error.qualified).toBe('trove.common.exception.GuestError');
    expect(reply.error.message).toContain('Endpoint does not support RPC method list_databases');
  });

  it('answers guest_log_list through Trove\'s client with a list', async () => {
    const reply = await env.harness.invoke(guest.id, guest.tenantId, 'guest_log_list');
    expect(reply.ok).toBe(true);
    if (reply.ok) expect(Array.isArray(reply.result)).toBe(true);
  });

  it('refuses a call above its version with UnsupportedVersion, through Trove\'s client', async () => {
    const reply = await env.harness.callMethod(guest.id, guest.tenantId, 'rpc_ping', { version: '1.2', cap: '1.2' });
    expect(reply.ok).toBe(false);
    if (reply.ok) return;
    expect(reply.error.qualified).toBe('trove.common.exception.GuestError');
    expect(reply.error.message).toContain('Endpoint does not support RPC version 1.2');
  });

  it('keeps heartbeating after prepare (the conductor row keeps moving)', async () => {
    const first = await env.harness.status(guest.id);
    await waitFor('a newer heartbeat', async () => {
      const now = await env.harness.status(guest.id);
      return now !== null && first !== null && now.updated_at > first.updated_at ? now : undefined;
    }, { timeoutMs: 15_000 });
    expect(agent.running).toBe(true);
  });

  it('never writes the instance key or the user\'s Keystone token to its log (debug level)', () => {
    // Every call above carried the token in its context; the key encrypted all of them.
    const log = JSON.stringify(agent.lines) + agent.rawLines.join('\n');
    expect(agent.lines.length).toBeGreaterThan(10);
    expect(log).not.toContain('conformance-token-not-a-secret');
    if (guest.key !== null) expect(log).not.toContain(guest.key);
  });
});

/** The agent's result against coreutils' df for the same path (spec §5 result shape). */
function expectStatsMatchDf(result: unknown, d: { size: number; used: number; avail: number }): void {
  const stats = result as Record<string, number>;
  expect(Object.keys(stats).sort()).toEqual(['block_size', 'free', 'free_blocks', 'total', 'total_blocks', 'used']);
  for (const key of ['block_size', 'total_blocks', 'free_blocks', 'free']) {
    expect(Number.isInteger(stats[key]), key).toBe(true);
  }
  // The filesystem size does not change between the two reads.
  expect(stats['total_blocks']! * stats['block_size']!).toBe(d.size);
  expect(stats['total']).toBeCloseTo(Math.round((d.size / GB) * 100) / 100, 2);
  // Used and free may move a little while other processes write; allow 64 MiB of drift.
  const drift = 64 * 1024 ** 2;
  expect(Math.abs(stats['free']! - (d.size - d.used))).toBeLessThanOrEqual(drift);
  expect(Math.abs(stats['used']! * GB - d.used)).toBeLessThanOrEqual(drift + 0.01 * GB);
}
