import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAllStatus } from '../../../../src/k2hdkc/ctlport/parse';
import type { RingMember } from '../../../../src/k2hdkc/ring/members';
import { checkRing } from '../../../../src/k2hdkc/ring/ring-health';

// `healthy` needs a ring holding every registered member (issue 10 item 1), checked on the real
// ALLSTATUS of a 3-server ring (fixture: a, b, c on one address, control ports 8021/8023/8025).
const ALLSTATUS = readFileSync(join(__dirname, '../../../fixtures/k2hdkc/allstatus-3.txt'), 'utf8');
const SRC = { command: 'ALLSTATUS', endpoint: 'test' };
const SELFSTATUS = readFileSync(join(__dirname, '../../../fixtures/k2hdkc/selfstatus-server.txt'), 'utf8');

const member = (seed: string, ctlport: number, isSelf = false): RingMember => ({ name: '127.0.0.2', ctlport, seed, isSelf });
const A = member('server-a', 8021, true);
const B = member('server-b', 8023);
const C = member('server-c', 8025);

/** C's chmpx answering on a free loopback port (where the check is told C's control port is). */
function liveMember(): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => s.once('data', () => s.end(SELFSTATUS.replace('0x21(SAFE -> [SERVICE IN]', '0x11(SAFE -> [SERVICE OUT]'))));
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    resolve({ server, port: typeof a === 'object' && a !== null ? a.port : 0 });
  }));
}

describe('ring check behind healthy', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  it('a ring with every registered member in service is whole', async () => {
    expect(await checkRing(parseAllStatus(ALLSTATUS, SRC), [A, B, C], () => '127.0.0.1')).toEqual({ ok: true });
  });

  it('a registered member this chmpx does not list yet is not', async () => {
    const d = member('server-d', 8027);
    expect(await checkRing(parseAllStatus(ALLSTATUS, SRC), [A, B, C, d], () => '127.0.0.1')).toEqual({ ok: false, why: "this node's chmpx does not list 127.0.0.2:8027 yet" });
  });

  it('a member out of this ring is tolerated when down, and not when its own chmpx answers (separate or conflicting rings)', async () => {
    const outC = ALLSTATUS.replace(/(Custom ID Seed\s+= server-c[\s\S]*?Server Status\s+= )0x21\(SAFE -> \[SERVICE IN\]\[UP\]/, '$10x10(SAFE -> [SERVICE OUT][DOWN]');
    // C's control port taken and released again: nothing answers there, C is down.
    const gone = await liveMember();
    await new Promise((r) => gone.server.close(r));
    const downC = { ...C, ctlport: gone.port };
    const withPort = (port: number) => parseAllStatus(outC.replace('Control Port       = 8025', `Control Port       = ${port}`), SRC);
    expect(await checkRing(withPort(gone.port), [A, B, downC], () => '127.0.0.1')).toEqual({ ok: true });
    const live = await liveMember();
    server = live.server;
    // Point the check at the live chmpx: C answers, so the ring is split.
    const split = await checkRing(withPort(live.port), [A, B, { ...C, ctlport: live.port }], () => '127.0.0.1');
    expect(split).toMatchObject({ ok: false });
    expect(!split.ok && split.why).toMatch(/127\.0\.0\.2:\d+ is up \(SAFE -> \[SERVICE OUT\]\[UP\]\[n\/a\]\[Nothing\]\[NoSuspend\]\) but this node's ring has it SAFE -> \[SERVICE OUT\]\[DOWN\]/);
  });
});
