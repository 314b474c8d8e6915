import { describe, expect, it } from 'vitest';
import type { AllStatus, RingServer } from '../../../../src/k2hdkc/ctlport/parse';
import { parseStatusWord } from '../../../../src/k2hdkc/ctlport/status-word';
import type { RingMember } from '../../../../src/k2hdkc/ring/members';
import type { MemberObservation } from '../../../../src/k2hdkc/ring/observe';
import { decideStart } from '../../../../src/k2hdkc/ring/start-gate';

// The start gate's decision from one round of ALLSTATUS replies (status words as real chmpx
// prints them, k2hdkc-observed.md): a member starts only when it cannot form a separate ring.

const IN = '0x21(SAFE -> [SERVICE IN][UP][n/a][Nothing][NoSuspend])';
const DOWN = '0x10(SAFE -> [SERVICE OUT][DOWN][n/a][Nothing][NoSuspend])';
const STARTING = '0x10011(SAFE -> [SERVICE OUT][UP][n/a][Nothing][Suspend])';
const JOINING = '0x2121(SAFE -> [SERVICE IN][UP][ADD][Doing][NoSuspend])';
const DEMOTED = '0x11(SAFE -> [SERVICE OUT][UP][n/a][Nothing][NoSuspend])';

const member = (name: string, isSelf = false): RingMember => ({ name, ctlport: 8021, seed: name, isSelf });
const [A, B, C] = [member('a'), member('b'), member('c')];

/** A member's ALLSTATUS listing `rows` (name → status word). */
function sees(m: RingMember, rows: Record<string, string>): MemberObservation {
  const servers: RingServer[] = Object.entries(rows).map(([name, word], i) => ({
    no: i + 1, serverName: name, port: 8020, ctlport: 8021, cuk: '', customIdSeed: name,
    status: parseStatusWord(word)!, enableHashValue: undefined, pendingHashValue: undefined, fields: {},
  }));
  const all: AllStatus = { ringName: 'g', servers };
  return { member: m, all };
}
const silent = (m: RingMember): MemberObservation => ({ member: m, all: undefined });
const self = (m: RingMember): MemberObservation => ({ member: { ...m, isSelf: true }, all: undefined });
const never = () => 0;
const forever = () => 10 ** 9;

describe('start gate', () => {
  it('the first registered server founds the ring when nobody answers; a later one waits for it', () => {
    expect(decideStart([self(A), silent(B), silent(C)], never, 45_000)).toMatchObject({ go: true, as: 'founder' });
    const b = decideStart([silent(A), self(B), silent(C)], never, 45_000);
    expect(b).toMatchObject({ go: false });
    expect(b.why).toMatch(/a:8021 registered before this node and starts first/);
  });

  it('a newcomer waits until every member that answers lists it (a refused early join would make a ring of its own)', () => {
    const early = decideStart([sees(A, { a: IN }), self(B)], never, 45_000);
    expect(early).toMatchObject({ go: false });
    expect(early.why).toMatch(/a:8021 does not list this node yet/);
    expect(decideStart([sees(A, { a: IN, b: DOWN }), self(B)], never, 45_000)).toMatchObject({ go: true, as: 'joiner' });
  });

  it('one join at a time: waits while a member joins or waits for its k2hdkc', () => {
    expect(decideStart([sees(A, { a: IN, b: JOINING, c: DOWN }), sees(B, { a: IN, b: JOINING, c: DOWN }), self(C)], never, 45_000)).toMatchObject({
      go: false, why: expect.stringMatching(/b:8021 is SAFE -> \[SERVICE IN\]\[UP\]\[ADD\]\[Doing\]/),
    });
    expect(decideStart([sees(A, { a: IN, b: STARTING, c: DOWN }), sees(B, { a: IN, b: STARTING, c: DOWN }), self(C)], never, 45_000).go).toBe(false);
    // b registered before c and has not started: c waits for it, then goes once b is in.
    expect(decideStart([sees(A, { a: IN, b: DOWN, c: DOWN }), silent(B), self(C)], never, 45_000).go).toBe(false);
    expect(decideStart([sees(A, { a: IN, b: IN, c: DOWN }), sees(B, { a: IN, b: IN, c: DOWN }), self(C)], never, 45_000)).toMatchObject({ go: true, as: 'joiner' });
  });

  it('a member registered earlier that stays silent past the grace is taken for dead', () => {
    expect(decideStart([silent(A), self(B)], forever, 45_000)).toMatchObject({ go: true, as: 'founder' });
    expect(decideStart([silent(A), sees(B, { a: DOWN, b: IN, c: DOWN }), self(C)], forever, 45_000)).toMatchObject({ go: true, as: 'joiner' });
  });

  it('members that answer but none in service (all demoted): waits rather than found a second ring', () => {
    const d = decideStart([sees(A, { a: DEMOTED, b: DOWN }), self(B)], never, 45_000);
    expect(d).toMatchObject({ go: false, why: expect.stringMatching(/none is in service/) });
  });
});
