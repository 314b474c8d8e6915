import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CtlportClient } from '../../../../src/k2hdkc/ctlport/client';
import { JoinCompleter } from '../../../../src/k2hdkc/ring/merge-complete';
import { sinkLogger } from '../processes/helpers';

// A joiner that real chmpx left at 0x3121 [SERVICE IN][UP][ADD][Done] (conformance ring test on
// real programs): COMPMERGE to its own control port completed the join. The control port here
// answers SELFSTATUS with the observed server reply (fixture), its status word replaced, and
// COMPMERGE with SUCCEED, moving a node at [ADD][Done] to 0x21 as real chmpx did.
const SELFSTATUS = readFileSync(join(__dirname, '../../../fixtures/k2hdkc/selfstatus-server.txt'), 'utf8');
const WORDS = {
  in: '0x21(SAFE -> [SERVICE IN][UP][n/a][Nothing][NoSuspend])',
  doing: '0x2121(SAFE -> [SERVICE IN][UP][ADD][Doing][NoSuspend])',
  done: '0x3121(SAFE -> [SERVICE IN][UP][ADD][Done][NoSuspend])',
} as const;

function fakeChmpx(state: { word: keyof typeof WORDS }): Promise<{ server: Server; port: number; compMerges: number }> {
  const seen = { server: undefined as unknown as Server, port: 0, compMerges: 0 };
  seen.server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', (data) => {
      const command = data.toString('utf8').trim();
      if (command === 'SELFSTATUS') socket.end(SELFSTATUS.replace(WORDS.in, WORDS[state.word]));
      else if (command === 'COMPMERGE') {
        seen.compMerges += 1;
        if (state.word === 'done') state.word = 'in';
        socket.end('SUCCEED\n');
      } else socket.end(`Unknown command(${command})\n`);
    });
  });
  return new Promise((resolve) => seen.server.listen(0, '127.0.0.1', () => {
    const a = seen.server.address();
    seen.port = typeof a === 'object' && a !== null ? a.port : 0;
    resolve(seen);
  }));
}

describe('completing a join left at [ADD][Done]', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  it('sends COMPMERGE once the joiner has sat at [ADD][Done] for the stall time, and says why', async () => {
    const state = { word: 'done' as keyof typeof WORDS };
    const ctl = await fakeChmpx(state);
    server = ctl.server;
    let now = 1000;
    const { log, lines } = sinkLogger();
    const completer = new JoinCompleter({ stallMs: 5000, log, now: () => now });
    const client = new CtlportClient({ host: '127.0.0.1', port: ctl.port });
    expect(await completer.check(client)).toBe(false);
    now += 4999;
    expect(await completer.check(client)).toBe(false);
    expect(ctl.compMerges).toBe(0);
    now += 1;
    expect(await completer.check(client)).toBe(true);
    expect(ctl.compMerges).toBe(1);
    expect(state.word).toBe('in');
    expect(lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('sent COMPMERGE'))).toMatchObject({ level: 'warn', reply: 'SUCCEED', stalledMs: 5000 });
    expect(await completer.check(client)).toBe(false);
  });

  it('leaves a join that is still merging ([ADD][Doing]) or done alone, and starts counting again after it', async () => {
    const state = { word: 'doing' as keyof typeof WORDS };
    const ctl = await fakeChmpx(state);
    server = ctl.server;
    let now = 0;
    const completer = new JoinCompleter({ stallMs: 100, log: sinkLogger().log, now: () => now });
    const client = new CtlportClient({ host: '127.0.0.1', port: ctl.port });
    for (const word of ['doing', 'doing', 'done', 'in', 'done'] as const) {
      state.word = word;
      now += 100;
      expect(await completer.check(client)).toBe(false);
    }
    expect(ctl.compMerges).toBe(0);
  });
});
