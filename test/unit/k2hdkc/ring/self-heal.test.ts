import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CtlportClient } from '../../../../src/k2hdkc/ctlport/client';
import { RingHealer } from '../../../../src/k2hdkc/ring/self-heal';
import { sinkLogger } from '../processes/helpers';

// The ring self-heal against a control port that answers SELFSTATUS with the observed server
// reply (fixture), its status word replaced, and SERVICEIN as real chmpx does: SUCCEED for a
// node [SERVICE OUT][UP], "status is not allowed" otherwise (k2hdkc-observed.md).
const SELFSTATUS = readFileSync(join(__dirname, '../../../fixtures/k2hdkc/selfstatus-server.txt'), 'utf8');
const WORDS = {
  in: '0x21(SAFE -> [SERVICE IN][UP][n/a][Nothing][NoSuspend])',
  stuck: '0x11(SAFE -> [SERVICE OUT][UP][n/a][Nothing][NoSuspend])',
  starting: '0x10011(SAFE -> [SERVICE OUT][UP][n/a][Nothing][Suspend])',
} as const;

function fakeChmpx(state: { word: keyof typeof WORDS; serviceInWorks: boolean }): Promise<{ server: Server; port: number; serviceIns: number[] }> {
  const serviceIns: number[] = [];
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', (data) => {
      const command = data.toString('utf8').trim();
      if (command === 'SELFSTATUS') socket.end(SELFSTATUS.replace(WORDS.in, WORDS[state.word]));
      else if (command === 'SERVICEIN') {
        serviceIns.push(Date.now());
        if (state.word !== 'stuck') socket.end('ERROR: Could not change status, because status is not allowed.\n');
        else {
          if (state.serviceInWorks) state.word = 'in';
          socket.end('SUCCEED\n');
        }
      } else socket.end(`Unknown command(${command})\n`);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    resolve({ server, port: typeof a === 'object' && a !== null ? a.port : 0, serviceIns });
  }));
}

describe('ring self-heal', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  function healer(port: number, k2hdkcRunning: boolean) {
    const { log, lines } = sinkLogger();
    const h = new RingHealer({
      client: async () => new CtlportClient({ host: '127.0.0.1', port }),
      k2hdkcRunning: async () => k2hdkcRunning,
      intervalMs: 50,
      maxAttempts: 3,
      log,
    });
    return { h, lines };
  }

  it('services a stuck [SERVICE OUT][UP] node in, saying why, and counts attempts from zero again once it is in', async () => {
    const state = { word: 'stuck' as keyof typeof WORDS, serviceInWorks: true };
    const ctl = await fakeChmpx(state);
    server = ctl.server;
    const { h, lines } = healer(ctl.port, true);
    expect(await h.checkOnce()).toBe('serviced-in');
    expect(ctl.serviceIns).toHaveLength(1);
    const line = lines.find((l) => typeof l['msg'] === 'string' && (l['msg'] as string).startsWith('sent SERVICEIN: chmpx is SAFE -> [SERVICE OUT][UP][n/a][Nothing][NoSuspend] while its k2hdkc runs'));
    expect(line).toMatchObject({ level: 'warn', attempt: 1, maxAttempts: 3, reply: 'SUCCEED' });
    expect(await h.checkOnce()).toBe('in-service');
    expect(lines.some((l) => l['msg'] === 'node back in service')).toBe(true);
  });

  it('gives up after the bounded attempts while SERVICEIN does not take, and says so once', async () => {
    const ctl = await fakeChmpx({ word: 'stuck', serviceInWorks: false });
    server = ctl.server;
    const { h, lines } = healer(ctl.port, true);
    const results = [];
    for (let i = 0; i < 6; i += 1) results.push(await h.checkOnce());
    expect(results).toEqual(['serviced-in', 'serviced-in', 'serviced-in', 'gave-up', 'gave-up', 'gave-up']);
    expect(ctl.serviceIns).toHaveLength(3);
    expect(lines.filter((l) => typeof l['msg'] === 'string' && (l['msg'] as string).startsWith('node stays out of service'))).toHaveLength(1);
  });

  it('leaves alone a node whose k2hdkc is not running, and one waiting for its k2hdkc ([Suspend])', async () => {
    const stuck = await fakeChmpx({ word: 'stuck', serviceInWorks: true });
    server = stuck.server;
    expect(await healer(stuck.port, false).h.checkOnce()).toBe('not-stuck');
    stuck.server.close();
    const starting = await fakeChmpx({ word: 'starting', serviceInWorks: true });
    server = starting.server;
    expect(await healer(starting.port, true).h.checkOnce()).toBe('not-stuck');
    expect([...stuck.serviceIns, ...starting.serviceIns]).toEqual([]);
  });

  it('runs on its own every interval until stop()', async () => {
    const ctl = await fakeChmpx({ word: 'stuck', serviceInWorks: true });
    server = ctl.server;
    const { h } = healer(ctl.port, true);
    h.start();
    for (let i = 0; i < 100 && ctl.serviceIns.length === 0; i += 1) await new Promise((r) => setTimeout(r, 20));
    await h.stop();
    expect(ctl.serviceIns).toHaveLength(1);
  });
});
