import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentProcess, LogLine } from './helpers/agent-process';
import { CONTROL_EXCHANGE, useConformanceEnv, type Guest } from './helpers/env';
import { hostileWave, type HostileMessage } from './helpers/hostile-messages';
import { RawPeer } from './helpers/raw-amqp';
import { waitForConsumer } from './helpers/rabbit';

// Acceptance 4: >= 1,000 malformed messages published raw to the real agent's queue. It stays
// up, answers every call that names a reply queue with exactly one failure, logs and drops the
// rest, and its RSS stays bounded across three waves. A memory bound, not a timing assertion.

const RSS_CAP_KIB = 256 * 1024;
/** Allowed growth from the first wave to the third: a plateau, not a leak per message. */
const RSS_GROWTH_KIB = 96 * 1024;

const env = useConformanceEnv({ conductor: false });
const peer = new RawPeer(CONTROL_EXCHANGE);
let guest: Guest;
let agent: AgentProcess;

beforeAll(async () => {
  guest = await env.addGuest({ secure: true });
  agent = env.startAgent(guest);
  await waitForConsumer(guest.queue);
  await peer.connect();
});

afterAll(async () => {
  await peer.close();
});

function warnings(lines: readonly LogLine[]): number {
  return lines.filter((l) => l['level'] === 'warn' || l['level'] === 'error' || l['level'] === 'fatal').length;
}

async function sendWave(): Promise<{ messages: HostileMessage[]; expected: string[]; dropped: number }> {
  const messages = hostileWave(guest.key!, peer.replyQueue, true);
  for (const m of messages) await peer.publish(guest.queue, m.body, m.props);
  const expected = messages.flatMap((m) => (m.msgId === null ? [] : [m.msgId]));
  await peer.waitForReplies(expected);
  return { messages, expected, dropped: messages.filter((m) => m.msgId === null).length };
}

/** Proves the agent still serves real traffic: Trove's own client gets True. */
async function pingThroughTrove(): Promise<void> {
  const reply = await env.harness.invoke(guest.id, guest.tenantId, 'rpc_ping');
  expect(reply).toMatchObject({ ok: true, result: true });
}

describe('hostile input against the running agent', () => {
  let rssAfterFirst = 0;

  it('answers each malformed call once with a failure and drops the rest (wave 1)', async () => {
    await pingThroughTrove();
    const logBefore = agent.lines.length;
    const { messages, expected, dropped } = await sendWave();
    expect(messages.length).toBeGreaterThanOrEqual(1000);

    // A final well-formed call goes through the same queue after the whole wave: once it is
    // answered, every earlier message has been consumed (one consumer, in order).
    await pingThroughTrove();
    for (const id of expected) {
      const replies = peer.replies.get(id) ?? [];
      expect(replies, `replies for ${id}`).toHaveLength(1);
      const reply = replies[0]!.message;
      expect(reply['ending']).toBe(true);
      expect(reply['result'] ?? null).toBeNull();
      expect(typeof reply['failure']).toBe('string');
      const failure = JSON.parse(reply['failure'] as string) as Record<string, unknown>;
      expect(typeof failure['class']).toBe('string');
      expect(typeof failure['module']).toBe('string');
      expect(String(failure['message']).length).toBeGreaterThan(0);
    }
    expect(peer.junk).toEqual([]);
    // Nothing else was answered except (perhaps) the wrong-content-type calls we left open.
    const unexpected = [...peer.replies.keys()].filter((id) => !expected.includes(id) && !id.startsWith('ctype'));
    expect(unexpected).toEqual([]);
    // Dropped messages are logged, not silently swallowed.
    expect(warnings(agent.lines.slice(logBefore))).toBeGreaterThanOrEqual(dropped);
    expect(agent.running).toBe(true);
    rssAfterFirst = await agent.settledRssKiB();
    expect(rssAfterFirst).toBeLessThan(RSS_CAP_KIB);
  });

  it('keeps its RSS bounded through two more waves', async () => {
    const rss = [rssAfterFirst];
    for (let wave = 2; wave <= 3; wave++) {
      await sendWave();
      await pingThroughTrove();
      expect(agent.running).toBe(true);
      rss.push(await agent.settledRssKiB());
    }
    // amqplib assembles each 10 MB body in memory before the agent can refuse it, and V8
    // collects lazily, so each figure is the lowest over a few idle seconds (a snapshot under
    // load measured 150-264 MiB); what must not happen is growth with every wave.
    for (const value of rss) expect(value, `RSS KiB per wave: ${rss.join(', ')}`).toBeLessThan(RSS_CAP_KIB);
    expect(rss[2]! - rss[0]!, `RSS KiB per wave: ${rss.join(', ')}`).toBeLessThan(RSS_GROWTH_KIB);
    // Log lines are JSON, and no key or token leaked into them.
    expect(agent.rawLines).toEqual([]);
    const text = JSON.stringify(agent.lines);
    expect(text).not.toContain(guest.key!);
    expect(text).not.toContain('conformance-token-not-a-secret');
  });
});
