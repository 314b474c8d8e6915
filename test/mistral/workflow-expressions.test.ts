/*
 * The decisions inside datastore/mistral/trove.backup_create.yaml, evaluated by Debian Mistral's
 * own YAQL evaluator (python3-mistral; tools/eval_workflow.py): which backups retention deletes,
 * the request body Trove gets, and the message a refusal becomes. The e2e runs the whole
 * workflow once; these cover the cases a single run cannot (ages, parents, other schedules).
 */
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const REPO = resolve(__dirname, '..', '..');
const WORKFLOW = join(REPO, 'datastore', 'mistral', 'trove.backup_create.yaml');
const TOOL = join(__dirname, 'tools', 'eval_workflow.py');

interface Case { task: string; path: string[]; context: Record<string, unknown>; result?: unknown }

function evaluateNow(cases: Case[]): Promise<Array<{ value?: unknown; error?: string }>> {
  return new Promise((done, fail) => {
    const child = execFile('/usr/bin/python3', [TOOL, WORKFLOW], { timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) fail(new Error(`${error.message}\n${stderr}`));
      else done(JSON.parse(stdout));
    });
    child.stdin!.end(JSON.stringify(cases));
  });
}

/** Cases are queued while the tests are collected and evaluated by one python run. */
const queued: Case[] = [];
let results: Array<{ value?: unknown; error?: string }> = [];
function later(cases: Case[]): () => Array<{ value?: unknown; error?: string }> {
  const start = queued.length;
  queued.push(...cases);
  return () => results.slice(start, start + cases.length).map((r) => {
    if (r.error !== undefined) throw new Error(`Mistral's evaluator: ${r.error}`);
    return r;
  });
}

const HOUR = 3600_000;
const at = (hoursAgo: number): string => new Date(Date.now() - hoursAgo * HOUR).toISOString().slice(0, 19);
const INSTANCE = 'i-1';

function backup(id: string, hoursAgo: number, extra: Partial<Record<string, unknown>> = {}): Record<string, unknown> {
  return { id, name: `nightly-${id}`, created: at(hoursAgo), status: 'COMPLETED', description: 'schedule=nightly keep=2', instance_id: INSTANCE, parent_id: null, ...extra };
}

function doomed(description: string, backups: unknown[]): Case {
  return { task: 'list_backups', path: ['publish', 'doomed'], context: { name: 'nightly', instance: INSTANCE, description, tag: 'schedule=nightly' }, result: { content: { backups } } };
}

describe('trove.backup_create under Mistral\'s evaluator', () => {
  const list = [
    backup('n1', 1), backup('n2', 2), backup('n3', 30), backup('n4', 50, { description: 'schedule=nightly keep=5' }),
    backup('hand', 60, { description: null, name: 'nightly-hand' }),
    backup('copied', 61, { name: 'mine' }),
    backup('failed', 62, { status: 'FAILED' }),
    backup('elsewhere', 63, { instance_id: 'i-2' }),
    backup('other', 64, { description: 'schedule=weekly keep=2', name: 'weekly-x' }),
  ];
  const retention = later([
    doomed('schedule=nightly keep=2', list),
    doomed('schedule=nightly max_age=1d', list),
    doomed('schedule=nightly max_age=1m', [backup('only', 100)]),
    doomed('schedule=nightly keep=1', [backup('c', 1, { parent_id: 'b' }), backup('b', 2, { parent_id: 'a' }), backup('a', 3), backup('z', 4)]),
  ]);
  const ctx = { instance: INSTANCE, backup_name: 'nightly-20261206T020000Z' };
  const body = later([
    { task: 'create_backup', path: ['input', 'json', 'backup'], context: { ...ctx, description: 'schedule=nightly keep=2', incremental: true } },
    { task: 'create_backup', path: ['input', 'json', 'backup'], context: { ...ctx, description: null, incremental: null } },
  ]);
  const prepare = (description: string | null): Case => ({ task: 'prepare', path: ['publish', 'tag'], context: { name: 'nightly', description } });
  const naming = later([
    { task: 'prepare', path: ['publish', 'backup_name'], context: { name: 'nightly' } },
    prepare('schedule=nightly keep=2'), prepare('schedule=weekly keep=2'), prepare(null),
  ]);
  const refusal = (result: unknown): Case => ({ task: 'create_backup', path: ['publish-on-error', 'refusal'], context: {}, result });
  const refusals = later([
    refusal({ status: 422, reason: 'Unprocessable Entity', content: { unprocessableEntity: { code: 422, message: 'Instance 1 is not ready (status BACKUP).' } } }),
    refusal({ status: 413, reason: 'Request Entity Too Large', content: { overLimit: { code: 413, message: 'Quota exceeded for resources: [\'backups\'].' } } }),
    refusal({ status: 502, reason: 'Bad Gateway', content: '<html>proxy</html>' }),
    refusal('Failed to send HTTP request: connection refused'),
  ]);

  beforeAll(async () => {
    // One python run for every case: importing Mistral takes seconds.
    results = await evaluateNow(queued);
  }, 60_000);

  it('retention: newest N and max age of this schedule only; never by hand, never FAILED, never the newest on age, never a parent', () => {
    const [keep2, age1d, ageOnly, parent] = retention();
    expect(keep2!.value).toEqual(['n3', 'n4']);
    expect(age1d!.value).toEqual(['n3', 'n4']);
    expect(ageOnly!.value).toEqual([]);
    // b and a are ancestors of the kept c: Trove would delete c with them.
    expect(parent!.value).toEqual(['z']);
  });

  it('sends Trove the instance, the timestamped name, the description and incremental as 0/1; drops a null description', () => {
    const [full, plain] = body();
    expect(full!.value).toEqual({ instance: INSTANCE, name: 'nightly-20261206T020000Z', description: 'schedule=nightly keep=2', incremental: 1 });
    expect(plain!.value).toEqual({ instance: INSTANCE, name: 'nightly-20261206T020000Z', incremental: 0 });
  });

  it('names backups <schedule>-<UTC timestamp> and finds the schedule marker only when it is the schedule\'s own', () => {
    const [name, own, foreign, none] = naming();
    expect(name!.value).toMatch(/^nightly-\d{8}T\d{6}Z$/);
    expect(own!.value).toBe('schedule=nightly');
    expect(foreign!.value).toBeNull();
    expect(none!.value).toBeNull();
  });

  it('turns Trove\'s refusal into its message, whatever shape it comes in', () => {
    const [busy, quota, html, down] = refusals();
    expect(busy!.value).toBe('Instance 1 is not ready (status BACKUP).');
    expect(quota!.value).toBe('Quota exceeded for resources: [\'backups\'].');
    expect(html!.value).toBe('HTTP 502 Bad Gateway');
    expect(down!.value).toBe('Failed to send HTTP request: connection refused');
  });
});
