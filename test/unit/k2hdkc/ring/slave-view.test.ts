import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CtlportClient } from '../../../../src/k2hdkc/ctlport/client';
import type { RingMember } from '../../../../src/k2hdkc/ring/members';
import { parseDumpSockets, SlaveViewHealer } from '../../../../src/k2hdkc/ring/slave-view';
import { sinkLogger } from '../processes/helpers';

// Real chmpx 1.0.113 on a slave marks a server it could not connect to DOWN and keeps it so while
// the server itself is 0x21 [SERVICE IN][UP] (conformance ring test, 3 of 3 runs). The slave's
// ALLSTATUS here is the real 3-server fixture with server-c as the slave held it.
const ALLSTATUS = readFileSync(join(__dirname, '../../../fixtures/k2hdkc/allstatus-3.txt'), 'utf8');
const SELFSTATUS = readFileSync(join(__dirname, '../../../fixtures/k2hdkc/selfstatus-server.txt'), 'utf8');
const HELD_C = '0x20(SAFE -> [SERVICE IN][DOWN][n/a][Nothing][NoSuspend])';
/** A real slave's DUMP (chmpx 1.0.113, one server it could not connect to). */
const DUMP = readFileSync(join(__dirname, '../../../fixtures/k2hdkc/dump-slave.txt'), 'utf8');

/** A control port on a free loopback port answering every command with `reply()` (undefined: closes without a word, as a denied host sees it). */
function fakeCtlport(reply: (command: string) => string | undefined): Promise<{ server: Server; port: number }> {
  const server = createServer((s: Socket) => s.once('data', (d) => {
    const text = reply(d.toString('utf8').trim());
    if (text === undefined) s.destroy();
    else s.end(text);
  }));
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    resolve({ server, port: typeof a === 'object' && a !== null ? a.port : 0 });
  }));
}

describe('a slave whose chmpx holds a serving server out of its view', () => {
  const servers: Server[] = [];
  afterEach(() => {
    for (const s of servers.splice(0)) s.close();
  });

  /** The slave's control port and server-c's; `cStatus` is what server-c says of itself (undefined: denies). */
  async function setUp(cStatus: () => string | undefined) {
    const c = await fakeCtlport(() => {
      const s = cStatus();
      return s === undefined ? undefined : SELFSTATUS.replace('0x21(SAFE -> [SERVICE IN][UP][n/a][Nothing][NoSuspend])', s);
    });
    let view = ALLSTATUS.replace('Control Port       = 8025', `Control Port       = ${c.port}`).replace('0x10(SAFE -> [SERVICE OUT][DOWN][n/a][Nothing][NoSuspend])', HELD_C);
    let dump: string | undefined;
    const slave = await fakeCtlport((command) => (command === 'DUMP' ? dump : view));
    servers.push(c.server, slave.server);
    const member: RingMember = { name: '127.0.0.2', ctlport: c.port, seed: 'server-c', isSelf: false };
    let now = 1_000_000;
    const restarts: number[] = [];
    const { log, lines } = sinkLogger();
    const healer = new SlaveViewHealer({
      view: async () => ({ client: new CtlportClient({ host: '127.0.0.1', port: slave.port }), members: [member] }),
      host: () => '127.0.0.1',
      restart: async () => void restarts.push(now),
      graceMs: 3000,
      minGapMs: 30_000,
      intervalMs: 1000,
      log,
      now: () => now,
    });
    return {
      healer,
      restarts,
      lines,
      advance: (ms: number) => void (now += ms),
      seeCUp: () => void (view = view.replace(HELD_C, '0x21(SAFE -> [SERVICE IN][UP][n/a][Nothing][NoSuspend])')),
      /** The slave's DUMP: its entry for C with this `sock`. */
      dumpSock: (sock: string) => void (dump = DUMP.replace('ctlport          = 29021', `ctlport          = ${c.port}`).replace('custom_seed      = server-a', 'custom_seed      = server-c').replace(/(custom_seed      = server-c[\s\S]*?sock             = )-1/, `$1${sock}`)),
    };
  }

  it('restarts its chmpx once the server has been held out for the grace, logging why at warn, and not again within the gap', async () => {
    const t = await setUp(() => '0x21(SAFE -> [SERVICE IN][UP][n/a][Nothing][NoSuspend])');
    expect(await t.healer.check()).toBe('held');
    t.advance(2000);
    expect(await t.healer.check()).toBe('held');
    expect(t.restarts).toEqual([]);
    t.advance(1500);
    expect(await t.healer.check()).toBe('restarted');
    expect(t.restarts).toHaveLength(1);
    const warn = t.lines.find((l) => l.level === 'warn');
    expect(warn?.msg).toMatch(/^restarting this slave's chmpx: it holds 127\.0\.0\.2:\d+ out of its ring while they serve/);
    expect(warn?.servers).toEqual([expect.objectContaining({ seen: 'SAFE -> [SERVICE IN][DOWN][n/a][Nothing][NoSuspend]', own: 'SAFE -> [SERVICE IN][UP][n/a][Nothing][NoSuspend]' })]);
    // Still held after the restart: a new grace, and no second restart within the gap.
    t.advance(5000);
    expect(await t.healer.check()).toBe('held');
    t.advance(5000);
    expect(await t.healer.check()).toBe('held');
    expect(t.restarts).toHaveLength(1);
    t.advance(25_000);
    expect(await t.healer.check()).toBe('restarted');
    expect(t.restarts).toHaveLength(2);
  });

  it('reads the sockets of a real slave DUMP: its own entry and the server it holds no socket to', () => {
    expect(parseDumpSockets(DUMP)).toEqual([
      { ctlport: 29031, seed: 'slave-s', sock: '-1' },
      { ctlport: 29021, seed: 'server-a', sock: '-1' },
    ]);
  });

  it('restarts also when the view shows the server in service but the DUMP has no socket to it (real chmpx: 11 of 40 keys unreadable)', async () => {
    const t = await setUp(() => '0x21(SAFE -> [SERVICE IN][UP][n/a][Nothing][NoSuspend])');
    t.seeCUp();
    t.dumpSock('14');
    expect(await t.healer.check()).toBe('whole');
    t.dumpSock('-1');
    t.advance(1000);
    expect(await t.healer.check()).toBe('held');
    t.advance(3000);
    expect(await t.healer.check()).toBe('restarted');
    expect(t.lines.find((l) => l.level === 'warn')?.servers).toEqual([expect.objectContaining({ seen: 'SAFE -> [SERVICE IN][UP][n/a][Nothing][NoSuspend], no socket (DUMP sock = -1)' })]);
  });

  it('looks at the control port at most once a second (the start loop asks on every health poll)', async () => {
    const t = await setUp(() => '0x21(SAFE -> [SERVICE IN][UP][n/a][Nothing][NoSuspend])');
    t.seeCUp();
    t.dumpSock('14');
    expect(await t.healer.check()).toBe('whole');
    t.dumpSock('-1');
    t.advance(999);
    expect(await t.healer.check()).toBe('whole');
    t.advance(1);
    expect(await t.healer.check()).toBe('held');
  });

  it('leaves it alone once the slave sees the server again, and a held spell starts over', async () => {
    const t = await setUp(() => '0x21(SAFE -> [SERVICE IN][UP][n/a][Nothing][NoSuspend])');
    expect(await t.healer.check()).toBe('held');
    t.advance(2500);
    t.seeCUp();
    expect(await t.healer.check()).toBe('whole');
    t.advance(10_000);
    expect(await t.healer.check()).toBe('whole');
    expect(t.restarts).toEqual([]);
  });

  it('does not restart for a server that is not in service itself, still joining, or whose chmpx denies the slave (its INI does not list it yet)', async () => {
    let own: string | undefined = '0x10011(SAFE -> [SERVICE OUT][UP][n/a][Nothing][Suspend])';
    const t = await setUp(() => own);
    expect(await t.healer.check()).toBe('whole');
    own = '0x2121(SAFE -> [SERVICE IN][UP][ADD][Doing][NoSuspend])';
    t.advance(10_000);
    expect(await t.healer.check()).toBe('whole');
    own = undefined;
    t.advance(10_000);
    expect(await t.healer.check()).toBe('whole');
    t.advance(10_000);
    expect(await t.healer.check()).toBe('whole');
    expect(t.restarts).toEqual([]);
  });

  it('says no-answer when the slave chmpx does not answer ALLSTATUS', async () => {
    const { log } = sinkLogger();
    const healer = new SlaveViewHealer({
      view: async () => null,
      host: () => '127.0.0.1',
      restart: async () => undefined,
      graceMs: 0,
      minGapMs: 0,
      intervalMs: 1000,
      log,
    });
    expect(await healer.check()).toBe('no-answer');
  });
});
