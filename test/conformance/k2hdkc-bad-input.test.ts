import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProvisionResult } from '../../src/k2hr3/provision';
import { K2hr3Double, renderDbaasIni } from '../doubles/k2hr3';
import { rawCtlport } from '../helpers/raw-ctlport';
import { KEYSTONE } from '../integration/k2hr3/helpers';
import type { AgentProcess } from './helpers/agent-process';
import { useConformanceEnv, type Guest } from './helpers/env';
import { chmpxPorts, faultRows, k2hdkcNodeOptions, killDaemons, nodeDir, prepareKwargs, provisionCluster, statusRowBecomes, type ChmpxPorts } from './helpers/k2hdkc-node';
import { waitFor } from './helpers/poll';
import { waitForConsumer } from './helpers/rabbit';
import type { FaultRow } from './helpers/trove-harness';

// Issue 3 acceptance 4: bad input during prepare, through Trove's own client and the real
// trove-conductor. K2HR3 answering 401 / 404 / garbage / a body of the wrong shape, an INI
// without [SLVNODE], a control port answering `ERROR:`: each prepare must end at
// `failed to spawn` with a fault naming the cause, the previous INI kept, no temp file left and
// nothing running. (K2HR3 500 is in k2hdkc-node.test.ts.) Also the guard: restart during a
// prepare is refused, stop_db during a prepare aborts it.
//
// The faults are made the way a real deployment gets them: an expired role token (401), a
// policy that denies the read (404), a resource string without slaves, and, through the
// double's injection hook, a proxy's HTML page, a JSON body of another shape, a slow answer.
// All agents run at once; one conductor serves the file.

const BASE_PORT = 6000 + (process.pid % 130) * 30;
const PREVIOUS_INI = '# the previous INI\n';

type CaseName = 'token401' | 'deny404' | 'garbage' | 'shape' | 'noslave' | 'ctlerror' | 'guard';
const CASES: readonly CaseName[] = ['token401', 'deny404', 'garbage', 'shape', 'noslave', 'ctlerror', 'guard'];

interface Case {
  readonly name: CaseName;
  readonly address: string;
  readonly ports: ChmpxPorts;
  readonly clusterName: string;
  cluster: ProvisionResult;
  guest: Guest;
  agent: AgentProcess;
  dir: string;
}

const env = useConformanceEnv({ conductor: true });
const double = new K2hr3Double({ keystone: KEYSTONE });
const cases = new Map<CaseName, Case>();

function get(name: CaseName): Case {
  const c = cases.get(name);
  if (c === undefined) throw new Error(`case ${name} was not set up`);
  return c;
}

/** A program on chmpx's control port that answers every command with `ERROR:` and stops on SIGINT. */
function erroringChmpx(dir: string, address: string, ctlport: number): string {
  const file = path.join(dir, 'chmpx-erroring');
  writeFileSync(
    file,
    [
      '#!/usr/bin/env node',
      "const net = require('node:net');",
      'net.createServer((s) => { s.on("error", () => {}); s.once("data", () => s.end(\'ERROR: Command must run on server mode.\\n\')); })',
      `  .listen(${ctlport}, '${address}');`,
      '',
    ].join('\n'),
  );
  chmodSync(file, 0o755);
  return file;
}

/** `<cluster>/server` resource reads of this case, as the double saw them. */
function resourceReads(c: Case): number {
  return double.seen.filter((r) => r.method === 'GET' && r.ip === c.address && r.path.endsWith(`:${c.clusterName}/server`)).length;
}

function resourcePath(c: Pick<Case, 'clusterName'>): RegExp {
  return new RegExp(`^/v1/resource/.*:${c.clusterName}/server$`);
}

function prepare(c: Case) {
  return env.harness.invoke(c.guest.id, c.guest.tenantId, 'prepare', {
    kwargs: prepareKwargs(c.guest),
    notification: true,
  });
}

/** Waits for `failed to spawn` and the fault row the conductor recorded from notify_exc_info (message unwrapped). */
async function failedWithFault(c: Case): Promise<FaultRow> {
  const row = await statusRowBecomes(env, c.guest.id, 'failed to spawn', { label: `${c.name}:` });
  expect(row.status_id).toBe(0x08);
  const faults = await faultRows(env, c.guest.id, c.name);
  const fault = faults[0] as FaultRow;
  // Trove stores the message wrapped over several lines; the words are what matters.
  return { ...fault, message: fault.message.replace(/\s+/g, ' ').trim() };
}

/** The previous INI is untouched, no temp file is left beside it, and no daemon was left running. */
function expectPreviousIniKeptAndNothingRunning(c: Case): void {
  expect(readFileSync(path.join(c.dir, 'k2hdkc.ini'), 'utf8')).toBe(PREVIOUS_INI);
  expect(readdirSync(c.dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  expect(existsSync(path.join(c.dir, 'run', 'chmpx.pid'))).toBe(false);
}

beforeAll(async () => {
  await double.start();
  CASES.forEach((name, i) => {
    cases.set(name, {
      name,
      address: `127.0.0.${61 + i}`,
      ports: chmpxPorts(BASE_PORT + i * 3),
      clusterName: `bad${process.pid}${name}`,
    } as Case);
  });
  for (const c of cases.values()) {
    c.cluster = await provisionCluster(double.url, c.clusterName, c.ports);
    const id = randomUUID();
    c.dir = nodeDir(env, id);
    mkdirSync(c.dir, { recursive: true });
    writeFileSync(path.join(c.dir, 'k2hdkc.ini'), PREVIOUS_INI);
    const extdata = double.extdataUrlFor(c.cluster.roleYrn);
    const chmpx: Record<string, string> = c.name === 'ctlerror' ? { chmpx_path: erroringChmpx(c.dir, c.address, c.ports.serverCtlport) } : {};
    c.guest = await env.addGuest({ secure: true, id, k2hdkc: k2hdkcNodeOptions({ dir: c.dir, address: c.address, extdataUrl: extdata.url }, chmpx) });
    if (c.name === 'token401') {
      // The token in the extdata script has expired: K2HR3 answers 401 to anything it signs.
      const token = double.state.roleTokens.get(extdata.token);
      if (token === undefined) throw new Error('no role token');
      token.expiresAt = Date.now() - 1000;
    }
  }
  // A policy that denies the read: K2HR3 answers 404 (spec §1.3.4).
  const denied = double.state.policies.get(`yrn:yahoo:::demo:policy:${get('deny404').clusterName}`);
  if (denied === undefined) throw new Error('no policy');
  denied.effect = 'deny';
  // A proxy's HTML error page with 200, on every attempt; and a JSON body of another shape.
  double.inject({ method: 'GET', path: resourcePath(get('garbage')) }, { garbage: true }, 20);
  double.inject({ method: 'GET', path: resourcePath(get('shape')) }, { status: 200, body: '{"result":true,"message":null,"resource":{"GLOBAL":{}}}' }, 20);
  // An operator stored a hand-written INI without slaves as the cluster resource: K2HR3 serves it verbatim.
  const noslave = get('noslave');
  const parent = double.state.resources.get(`yrn:yahoo:::demo:resource:${noslave.clusterName}`);
  const server = double.state.resources.get(`yrn:yahoo:::demo:resource:${noslave.clusterName}/server`);
  if (parent === undefined || server === undefined) throw new Error('no resources');
  const self = { host: noslave.address, port: 0, cuk: noslave.guest.id, extra: 'openstack-auto-v1', tag: noslave.address, inboundip: '', outboundip: '' };
  parent.string = withoutSection(renderDbaasIni({ ...parent.keys, ...server.keys }, [self], []), 'SLVNODE');
  // A slow K2HR3: the guard case's prepare sits in its resource read while restart and stop_db arrive.
  double.inject({ method: 'GET', path: resourcePath(get('guard')) }, { delayMs: 5000 }, 1);

  for (const c of cases.values()) c.agent = env.startAgent(c.guest);
  for (const c of cases.values()) await waitForConsumer(c.guest.queue);
  for (const c of cases.values()) {
    if (c.name !== 'guard') expect(await prepare(c)).toMatchObject({ ok: true });
  }
});

afterAll(async () => {
  await Promise.all([...cases.values()].map((c) => c.agent?.stop()));
  for (const c of cases.values()) killDaemons(c.dir === undefined ? undefined : path.join(c.dir, 'run'));
  await double.stop();
});

/** `text` without its `[name]` sections. */
function withoutSection(text: string, name: string): string {
  const out: string[] = [];
  let skipping = false;
  for (const line of text.split('\n')) {
    const header = /^\[(\w+)\]\s*$/.exec(line);
    if (header) skipping = header[1] === name;
    if (!skipping) out.push(line);
  }
  return out.join('\n');
}

describe('a K2HDKC prepare given bad input ends at failed to spawn, naming the cause', () => {
  it('K2HR3 401 (expired role token): one registration attempt, no retry, fault names the refusal', async () => {
    const c = get('token401');
    const fault = await failedWithFault(c);
    expect(fault.message).toMatch(/K2HR3 PUT .*refused the request \(401; check the token/);
    expect(fault.message).toContain('expired');
    expect(double.seen.filter((r) => r.method === 'PUT' && r.ip === c.address)).toHaveLength(1);
    expect(double.state.hostsOf(c.cluster.roleYrn)).toEqual([]);
    expectPreviousIniKeptAndNothingRunning(c);
  });

  it('K2HR3 404 (policy denies the read): registered, one read, no retry, fault names the 404', async () => {
    const c = get('deny404');
    const fault = await failedWithFault(c);
    expect(fault.message).toMatch(/K2HR3 GET .*found nothing \(404; missing, or denied by policy\)/);
    expect(resourceReads(c)).toBe(1);
    expectPreviousIniKeptAndNothingRunning(c);
  });

  it('garbage (an HTML page instead of JSON): retried, then the fault says the body is not JSON', async () => {
    const c = get('garbage');
    const fault = await failedWithFault(c);
    expect(fault.message).toMatch(/K2HR3 GET .*answered 200 with a body that is not JSON \(gave up after 4 attempts\)/);
    expect(resourceReads(c)).toBe(4);
    expectPreviousIniKeptAndNothingRunning(c);
  });

  it('JSON of the wrong shape (resource is not a string): the fault names the field', async () => {
    const c = get('shape');
    const fault = await failedWithFault(c);
    expect(fault.message).toMatch(/K2HR3 GET .*answered 200 with an unexpected body \(\/resource must be string\)/);
    expectPreviousIniKeptAndNothingRunning(c);
  });

  it('an INI without [SLVNODE]: refused before writing, the fault says why', async () => {
    const c = get('noslave');
    const fault = await failedWithFault(c);
    expect(fault.message).toContain('Refusing to write');
    expect(fault.message).toContain('the previous file is kept');
    expect(fault.message).toContain('no [SLVNODE] section: chmpx will not start without a slave definition');
    expectPreviousIniKeptAndNothingRunning(c);
  });

  it('a control port answering ERROR: fails at once quoting the reply; the INI is whole and chmpx is stopped', async () => {
    const c = get('ctlerror');
    const fault = await failedWithFault(c);
    expect(fault.message).toContain(`chmpx at ${c.address}:${c.ports.serverCtlport} refused SELFSTATUS: ERROR: Command must run on server mode.`);
    // The INI from K2HR3 was valid, so it replaced the previous one, whole.
    const ini = readFileSync(path.join(c.dir, 'k2hdkc.ini'), 'utf8');
    expect(ini).toContain(`CUK = ${c.guest.id}`);
    expect(ini).toContain('[SLVNODE]');
    expect(readdirSync(c.dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    // The start was undone: the program on the control port got SIGINT.
    await waitFor('control port closed', () => rawCtlport(c.address, c.ports.serverCtlport, 'VERSION').then(() => undefined, (e: Error) => e.message));
    expect(existsSync(path.join(c.dir, 'run', 'k2hdkc.pid'))).toBe(false);
  });

  it('never logs a role token or an extdata register path', () => {
    for (const c of cases.values()) {
      const log = JSON.stringify(c.agent.lines) + c.agent.rawLines.join('\n');
      expect(log).not.toContain(c.cluster.roleToken);
    }
  });
});

describe('node operations arriving while a prepare runs', () => {
  it('restart is refused with "prepare in progress"; stop_db aborts the prepare and succeeds; the fault names stop_db', async () => {
    const c = get('guard');
    expect(await prepare(c)).toMatchObject({ ok: true });
    // The prepare now waits for K2HR3's slow answer to its resource read.
    await waitFor('the resource read in flight', () => (resourceReads(c) > 0 ? true : undefined));
    const restart = await env.harness.invoke(c.guest.id, c.guest.tenantId, 'restart');
    expect(restart.ok).toBe(false);
    if (restart.ok) return;
    expect(restart.error.qualified).toBe('trove.common.exception.GuestError');
    expect(restart.error.message).toContain('Cannot restart now: a prepare is in progress on this guest');

    const stop = await env.harness.invoke(c.guest.id, c.guest.tenantId, 'stop_db');
    expect(stop).toMatchObject({ ok: true, result: null });
    const fault = await failedWithFault(c);
    expect(fault.message).toBe('The prepare was aborted by stop_db before the node was ready.');
    expectPreviousIniKeptAndNothingRunning(c);
    // Registered before the read; stop_db takes the node out of K2HR3 even when it aborts a prepare.
    expect(double.state.hostsOf(c.cluster.roleYrn).map((h) => h.cuk)).toEqual([]);
  });
});
