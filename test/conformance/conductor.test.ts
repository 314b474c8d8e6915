import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useConformanceEnv, type Guest } from './helpers/env';
import { waitFor } from './helpers/poll';
import { waitForConsumer } from './helpers/rabbit';
import type { StatusRow } from './helpers/trove-harness';

// Acceptance 2: Debian's real trove-conductor (sqlite DB) records the agent's heartbeats and
// the fault of a failed prepare. The prepare comes from trove.guestagent.api.API with the
// taskmanager's create notification in its context.

const env = useConformanceEnv({ conductor: true });

/** The service_status of every heartbeat the conductor received for `id`, in order. */
async function heartbeatStatuses(id: string): Promise<string[]> {
  const lines = await env.harness.conductorLog(`Instance ID: ${id}, Payload:`);
  return lines.map((line) => /'service_status': '([^']*)'/.exec(line)?.[1] ?? '(none)');
}

/** How many messages the conductor failed to handle so far (it logs each with a traceback). */
async function conductorErrors(): Promise<string[]> {
  return env.harness.conductorLog('Exception during message handling');
}

function waitForStatus(guest: Guest, description: string): Promise<StatusRow> {
  return waitFor(`status row ${description}`, async () => {
    const row = await env.harness.status(guest.id);
    return row?.status_description === description ? row : undefined;
  });
}

/** Trove's API.prepare; at cap ussuri it goes out as version 1.0 without ds_version. */
async function prepare(guest: Guest, mountPoint: string, cap: string): Promise<void> {
  const sent = await env.harness.invoke(guest.id, guest.tenantId, 'prepare', {
    kwargs: { memory_mb: 512, packages: '', databases: [], users: [], mount_point: mountPoint, ds_version: '1.0.14' },
    notification: true,
    cap,
  });
  expect(sent).toMatchObject({ ok: true });
}

describe.each([
  { mode: 'encrypted', secure: true, cap: 'latest' },
  { mode: 'plain', secure: false, cap: 'ussuri' },
])('trove-conductor with the agent ($mode, prepare at cap $cap)', ({ secure, cap }) => {
  it('moves the status row new -> building -> healthy and keeps it fresh', async () => {
    const guest = await env.addGuest({ secure });
    const agent = env.startAgent(guest);
    expect(await env.harness.status(guest.id)).toMatchObject({ status_id: 0x17, status_description: 'new' });
    await waitForConsumer(guest.queue);
    expect(agent.running).toBe(true);
    const errorsBefore = (await conductorErrors()).length;
    await prepare(guest, guest.files.mountPoint, cap);

    // At cap ussuri Trove drops ds_version and sends 1.0; the agent took both forms.
    const started = await agent.waitForLog('prepare started', (l) => l['msg'] === 'prepare started');
    expect(started['dsVersion']).toBe(cap === 'latest' ? '1.0.14' : null);
    const healthy = await waitForStatus(guest, 'healthy');
    expect(healthy.status_id).toBe(0x21);
    // The first heartbeat the conductor ever got for this instance is `building`: none before
    // prepare, as Trove's guest (spec §7.1).
    const statuses = await heartbeatStatuses(guest.id);
    expect(statuses.slice(0, 2)).toEqual(['building', 'healthy']);
    // The success notification reached the conductor and was re-emitted as ...create.end.
    await waitFor('notify_end at the conductor', async () => {
      const lines = await env.harness.conductorLog('Sending event: dbaas.instance_create.end');
      return lines.some((l) => l.includes(guest.id)) ? true : undefined;
    });

    // Periodic heartbeats (report_interval 2 s) keep moving updated_at; the conductor accepts
    // them only when `sent` grows, so a moving row also proves `sent` is increasing.
    await waitFor('a periodic heartbeat', async () => {
      const row = await env.harness.status(guest.id);
      return row !== null && row.updated_at > healthy.updated_at ? row : undefined;
    }, { timeoutMs: 15_000 });
    expect(await env.harness.faults(guest.id)).toEqual([]);
    // Every cast was handled without error. Trove 18's conductor creates the conductor_lastseen
    // row without a lock: two heartbeats of a new instance in flight together make one fail
    // with DBDuplicateEntry and that status is lost, so the agent must not send them together.
    expect((await conductorErrors()).slice(errorsBefore)).toEqual([]);
    const seen = await env.harness.lastSeen(guest.id);
    expect(Number(seen['heartbeat'])).toBeGreaterThan(Date.now() / 1000 - 600);
  });

  it('ends a failing prepare at `failed to spawn` with an instance fault row', async () => {
    const blocker = path.join(env.dir, `not-a-directory-${secure ? 'enc' : 'plain'}`);
    writeFileSync(blocker, 'a regular file where a directory is needed\n');
    const mountPoint = path.join(blocker, 'data');
    const guest = await env.addGuest({ secure, mountPoint });
    env.startAgent(guest);
    const errorsBefore = (await conductorErrors()).length;
    await prepare(guest, mountPoint, cap);

    // The conductor received both heartbeats (it logs each before applying it) ...
    const statuses = await waitFor('the failed heartbeat in the conductor log', async () => {
      const list = await heartbeatStatuses(guest.id);
      return list.includes('failed to spawn') ? list : undefined;
    });
    expect(statuses).toEqual(['building', 'failed to spawn']);
    // ... and handled both without error; a lost `failed to spawn` would leave the instance in
    // BUILD until the taskmanager's usage_timeout (see the lastseen race above).
    const row = await waitFor('failed to spawn applied (or a conductor error)', async () => {
      if ((await conductorErrors()).length > errorsBefore) return null;
      const status = await env.harness.status(guest.id);
      return status?.status_description === 'failed to spawn' ? status : undefined;
    });
    expect((await conductorErrors()).slice(errorsBefore)).toEqual([]);
    expect(row?.status_id).toBe(0x08);
    const faults = await waitFor('an instance_faults row', async () => {
      const rows = await env.harness.faults(guest.id);
      return rows.length > 0 ? rows : undefined;
    });
    expect(faults).toHaveLength(1);
    expect(faults[0]!.message.length).toBeGreaterThan(0);
    // persist_instance_fault prefixes the details with the notification's server_type.
    expect(faults[0]!.details).toContain('Server type: guest');
  });
});
