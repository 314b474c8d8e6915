import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentProcess } from './helpers/agent-process';
import { CONTROL_EXCHANGE, useConformanceEnv, type Guest } from './helpers/env';
import { HeartbeatSpy } from './helpers/heartbeat-spy';
import { waitFor } from './helpers/poll';
import { callBody, GuestCodec, RawPeer } from './helpers/raw-amqp';
import { rabbitmqctl, waitForBroker, waitForConsumer } from './helpers/rabbit';

// Acceptance 3: RabbitMQ is restarted for real (rabbitmqctl stop_app / start_app drops every
// connection and deletes every non-durable queue, the agent's included). Within 10 s of the
// broker returning the agent answers rpc_ping and heartbeats again, and nothing is handled twice.

const RECOVERY_MS = 10_000;

const env = useConformanceEnv({ conductor: true });
let guest: Guest;
let agent: AgentProcess;
let peer: RawPeer;
let spy: HeartbeatSpy;
let codec: GuestCodec;
let brokerStopped = false;

beforeAll(async () => {
  guest = await env.addGuest({ secure: true, reportInterval: 2 });
  codec = new GuestCodec(guest.key);
  peer = new RawPeer(CONTROL_EXCHANGE);
  spy = new HeartbeatSpy(CONTROL_EXCHANGE, env.conductorQueue, guest.key);
  agent = env.startAgent(guest);
  await waitForConsumer(guest.queue);
});

afterAll(async () => {
  // Never leave the broker down for the next file.
  if (brokerStopped) await rabbitmqctl('start_app').catch(() => undefined);
  await waitForBroker();
  await peer.close();
  await spy.close();
});

/** Sends raw rpc_ping calls every 250 ms until one is answered; returns when that happened. */
async function pingUntilAnswered(timeoutMs: number): Promise<number> {
  const sent: string[] = [];
  return waitFor('a raw rpc_ping reply', async () => {
    const answered = sent.find((id) => peer.replies.has(id));
    if (answered !== undefined) return Date.now();
    const { msgId, body } = callBody(codec, 'rpc_ping', {}, peer.replyQueue);
    sent.push(msgId);
    await peer.publish(guest.queue, body);
    return undefined;
  }, { timeoutMs, intervalMs: 250 });
}

describe('broker restart while the agent runs', () => {
  it('recovers RPC and heartbeats within 10 s and handles nothing twice', async () => {
    const prepared = await env.harness.invoke(guest.id, guest.tenantId, 'prepare', {
      kwargs: { memory_mb: 512, packages: '', databases: [], users: [], mount_point: guest.files.mountPoint },
      notification: true,
    });
    expect(prepared).toMatchObject({ ok: true });
    const healthy = await waitFor('healthy', async () => {
      const row = await env.harness.status(guest.id);
      return row?.status_description === 'healthy' ? row : undefined;
    });
    await spy.connect();
    await peer.connect();
    await waitFor('a heartbeat seen by the spy', () => (spy.heartbeats().length > 0 ? true : undefined), {
      timeoutMs: 15_000,
    });
    const before = Array.from({ length: 10 }, () => callBody(codec, 'rpc_ping', {}, peer.replyQueue));
    for (const c of before) await peer.publish(guest.queue, c.body);
    await peer.waitForReplies(before.map((c) => c.msgId));

    brokerStopped = true;
    await rabbitmqctl('stop_app');
    peer.forget();
    spy.forget();
    await rabbitmqctl('start_app');
    brokerStopped = false;
    await waitForBroker();
    const back = Date.now();
    await peer.connect();
    await spy.connect();

    const answeredAt = await pingUntilAnswered(RECOVERY_MS + 5_000);
    expect(answeredAt - back).toBeLessThanOrEqual(RECOVERY_MS);
    const beat = await waitFor('a heartbeat after the restart', () =>
      spy.heartbeats().find((h) => h.at >= back), { timeoutMs: RECOVERY_MS + 5_000 });
    expect(beat.at - back).toBeLessThanOrEqual(RECOVERY_MS);
    expect(beat.payload).toEqual({ service_status: 'healthy' });

    // Trove's own client works again (its oslo transport reconnects on its own schedule).
    await waitFor('rpc_ping through Trove', async () => {
      const r = await env.harness.invoke(guest.id, guest.tenantId, 'rpc_ping', { lowTimeout: 3 });
      return r.ok && r.result === true ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 500 });
    // The real conductor records heartbeats again once it has reconnected too.
    await waitFor('the conductor row to move', async () => {
      const row = await env.harness.status(guest.id);
      return row !== null && row.updated_at > healthy.updated_at && row.status_description === 'healthy'
        ? row
        : undefined;
    }, { timeoutMs: 90_000, intervalMs: 500 });

    // Nothing handled twice: one reply per call, one prepare, unique and increasing heartbeats.
    for (const c of before) expect(peer.replies.get(c.msgId)).toHaveLength(1);
    for (const [id, replies] of peer.replies) expect(replies, `replies to ${id}`).toHaveLength(1);
    expect(agent.lines.filter((l) => l['msg'] === 'prepare started')).toHaveLength(1);
    const beats = spy.heartbeats();
    expect(new Set(beats.map((b) => b.uniqueId)).size).toBe(beats.length);
    const sents = beats.map((b) => Number(b.sent));
    for (let i = 1; i < sents.length; i++) expect(sents[i]!).toBeGreaterThan(sents[i - 1]!);
    const building = (await env.harness.conductorLog(`Instance ID: ${guest.id}, Payload:`)).filter((l) =>
      l.includes("'building'"),
    );
    expect(building).toHaveLength(1);
    expect(agent.running).toBe(true);
  });
});
