import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { K2hdkcManager } from '../../../src/k2hdkc/manager';
import type { NodeProcesses } from '../../../src/k2hdkc/processes/types';
import { renderDbaasIni } from '../../doubles/k2hr3';
import { sinkLogger } from './processes/helpers';

// stop_db's wait for [SERVICE OUT] (issue 3 item 6): bounded by what Trove's 15 s leave after the
// deregistration and the stop, and logged either way. The control port here is a chmpx whose
// SELFSTATUS is the observed server reply (fixture); after SERVICEOUT it either goes
// [SERVICE OUT] or, stuck, stays [SERVICE IN]. SERVICEOUT may first be refused with the replies
// real chmpx gave (k2hdkc-observed.md "Replies not listed before"): while the ring merges, and on
// a one-server ring.
const OPERATING = 'ERROR: Could not change status, because server is operating now.\n';
const ALONE = 'ERROR: Failed to send status notice to other servers.\n';

const SELFSTATUS = readFileSync(join(__dirname, '../../fixtures/k2hdkc/selfstatus-server.txt'), 'utf8');
const ADDRESS = '127.0.0.1';
const GUEST = 'inst-stop-budget';

/** A control port answering SELFSTATUS from the fixture and SERVICEOUT with SUCCEED. */
function chmpxControlPort(
  afterServiceOut: 'SERVICE OUT' | 'SERVICE IN',
  refusals: string[] = [],
  refuseForever?: string,
): Promise<{ server: Server; port: number; commands: string[] }> {
  const commands: string[] = [];
  let out = false;
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', (data) => {
      const command = data.toString('utf8').trim();
      commands.push(command);
      if (command.startsWith('SERVICEOUT ') && (refusals.length > 0 || refuseForever !== undefined)) {
        socket.end(refusals.shift() ?? refuseForever ?? '');
      } else if (command.startsWith('SERVICEOUT ')) {
        out = afterServiceOut === 'SERVICE OUT';
        socket.end('SUCCEED\n');
      } else if (command === 'SELFSTATUS') {
        socket.end(out ? SELFSTATUS.replace('0x21(SAFE -> [SERVICE IN]', '0x11(SAFE -> [SERVICE OUT]') : SELFSTATUS);
      } else {
        socket.end(`Unknown command(${command})\n`);
      }
    });
  });
  return new Promise((resolve) => server.listen(0, ADDRESS, () => {
    const address = server.address();
    resolve({ server, port: typeof address === 'object' && address !== null ? address.port : 0, commands });
  }));
}

/** Processes that are "running" until stop() (only the order of events matters here). */
function processes(events: string[]): NodeProcesses {
  return {
    start: async () => undefined,
    stop: async () => void events.push('stopped'),
    restart: async () => undefined,
    state: async () => ({ role: 'server', chmpx: 'running', k2hdkc: 'running' }),
    onEvent: () => () => undefined,
  };
}

function manager(port: number, events: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'k2h-stop-budget-'));
  const keys = { 'cluster-name': 'budget', 'chmpx-mode': 'SERVER', 'chmpx-server-port': String(port - 1), 'chmpx-server-ctlport': String(port), 'chmpx-slave-ctlport': String(port + 1) };
  const self = { host: ADDRESS, port: 0, cuk: GUEST, extra: '', tag: 'node-a', inboundip: '', outboundip: '' };
  writeFileSync(join(dir, 'k2hdkc.ini'), renderDbaasIni(keys, [self], []).replace('__SELF_INSTANCE_ID__', GUEST));
  const { log, lines } = sinkLogger();
  const m = new K2hdkcManager({
    guestId: GUEST, role: 'server', nodeName: 'node-a', clusterName: 'budget', extdataUrl: null, k2hr3ApiUrl: null, template: null,
    k2hr3: {}, iniPath: join(dir, 'k2hdkc.ini'), ctlportHost: ADDRESS, stateDir: dir,
    createProcesses: () => processes(events), volume: null, prepareTimeoutMs: 10_000, healthPollMs: 50, log,
  });
  return { m, lines };
}

describe('stop_db scale-in wait', () => {
  let server: Server | undefined;
  afterEach(() => {
    server?.close();
  });

  it('sends SERVICEOUT with the custom seed, waits for [SERVICE OUT], then stops', async () => {
    const ctl = await chmpxControlPort('SERVICE OUT');
    server = ctl.server;
    const events: string[] = [];
    const { m, lines } = manager(ctl.port, events);
    await m.stopDb();
    expect(ctl.commands[0]).toBe(`SERVICEOUT node-a:${ctl.port}:node-a`);
    expect(ctl.commands.slice(1)).toContain('SELFSTATUS');
    expect(events).toEqual(['stopped']);
    expect(lines.find((l) => l['msg'] === 'node serviced out')).toMatchObject({ result: 'out', attempts: 1, lastReply: 'SUCCEED (last seen SERVICE OUT)' });
    expect(lines.some((l) => l['level'] === 'warn')).toBe(false);
  });

  it('a node stuck in [SERVICE IN] is waited for only as long as the budget leaves, logged, then stopped anyway', async () => {
    const ctl = await chmpxControlPort('SERVICE IN');
    server = ctl.server;
    const events: string[] = [];
    const { m, lines } = manager(ctl.port, events);
    // stop_db always deregisters: the wait gets 14 s - 6 s (stop) - 3 s (deregistration) at most.
    await m.stopDb();
    expect(events).toEqual(['stopped']);
    const sent = lines.find((l) => l['msg'] === 'SERVICEOUT accepted; waiting for [SERVICE OUT]');
    expect(sent?.['waitMs']).toBeLessThanOrEqual(5000);
    const warning = lines.find((l) => typeof l['msg'] === 'string' && (l['msg'] as string).startsWith('node accepted SERVICEOUT but did not reach'));
    expect(warning).toMatchObject({ level: 'warn', result: 'timeout', lastReply: 'SUCCEED (last seen SERVICE IN)' });
    expect(warning?.['msg']).toMatch(/stopping without a completed scale-in/);
    // Polled until the end of the wait, not given up after one look.
    expect(ctl.commands.filter((c) => c === 'SELFSTATUS').length).toBeGreaterThan(3);
  });

  it('retries SERVICEOUT while the ring merges ("operating now") and then waits for [SERVICE OUT]', async () => {
    const ctl = await chmpxControlPort('SERVICE OUT', [OPERATING, OPERATING, OPERATING]);
    server = ctl.server;
    const events: string[] = [];
    const { m, lines } = manager(ctl.port, events);
    await m.stopDb();
    expect(ctl.commands.filter((c) => c.startsWith('SERVICEOUT ')).length).toBeGreaterThanOrEqual(4);
    expect(events).toEqual(['stopped']);
    expect(lines.some((l) => l['msg'] === 'SERVICEOUT refused while the ring merges; retrying within the stop_db budget')).toBe(true);
    expect(lines.find((l) => l['msg'] === 'node serviced out')).toMatchObject({ result: 'out' });
  });

  it('a ring that merges for the whole budget: SERVICEOUT retried until the budget is spent, reported, node stopped', async () => {
    const ctl = await chmpxControlPort('SERVICE IN', [], OPERATING);
    server = ctl.server;
    const events: string[] = [];
    const { m, lines } = manager(ctl.port, events);
    await m.stopDb();
    expect(events).toEqual(['stopped']);
    const busy = lines.find((l) => l['result'] === 'busy');
    expect(busy).toMatchObject({ level: 'warn', lastReply: OPERATING.trim() });
    expect(busy?.['attempts']).toBeGreaterThan(3);
    expect(ctl.commands.filter((c) => c === 'SELFSTATUS')).toEqual([]);
  });

  it('a one-server ring ("Failed to send status notice"): no wait, reported, node stopped', async () => {
    const ctl = await chmpxControlPort('SERVICE IN', [ALONE]);
    server = ctl.server;
    const events: string[] = [];
    const { m, lines } = manager(ctl.port, events);
    await m.stopDb();
    expect(events).toEqual(['stopped']);
    expect(lines.find((l) => l['result'] === 'alone')).toMatchObject({ level: 'info', attempts: 1, lastReply: ALONE.trim() });
    expect(ctl.commands.filter((c) => c === 'SELFSTATUS')).toEqual([]);
  });
});
