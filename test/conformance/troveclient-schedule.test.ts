import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { triggerFor } from '../../src/dbaas-cli/backup-schedule';

// `k2hdkc-dbaas backup schedule create` must make what Debian's troveclient 8 makes: its
// Backups.schedule_create is run here with a Mistral client that records the cron trigger it is
// asked to create (no network), and the two requests are compared field by field.

const INSTANCE = '5f0c2d8e-7a41-4b7e-9d0a-1c2b3d4e5f60';

const RECORDER = `
import json, sys, types
from troveclient.v1 import backups
seen = {}
class Triggers:
    def create(self, name, workflow_name, pattern=None, workflow_input=None, **kw):
        seen.update(name=name, workflow_name=workflow_name, pattern=pattern, workflow_input=workflow_input, extra=kw)
        return types.SimpleNamespace(name=name, created_at='now', next_execution_time=None, pattern=pattern, workflow_input=json.dumps(workflow_input))
mistral = types.SimpleNamespace(cron_triggers=Triggers())
a = json.loads(sys.argv[1])
backups.Backups(None).schedule_create(a['instance'], a['pattern'], a['name'], description=a['description'], incremental=a['incremental'], mistral_client=mistral)
print(json.dumps(seen))
`;

async function troveclient(args: { instance: string; pattern: string; name: string; description: string | null; incremental: boolean | null }): Promise<{
  name: string; workflow_name: string; pattern: string; workflow_input: Record<string, unknown>; extra: Record<string, unknown>;
}> {
  const { stdout } = await promisify(execFile)('/usr/bin/python3', ['-c', RECORDER, JSON.stringify(args)], { timeout: 60_000 });
  return JSON.parse(stdout);
}

describe('a schedule is the cron trigger troveclient 8 makes', () => {
  it('same workflow, pattern and input keys in the same order; a fresh UUID as its name', async () => {
    const ours = triggerFor({
      instance: 'db1', pattern: '0 2 * * *', name: 'nightly', description: undefined, incremental: true,
      retention: { keep: 3, maxAge: undefined },
    }, INSTANCE);
    const theirs = await troveclient({ instance: INSTANCE, pattern: '0 2 * * *', name: 'nightly', description: 'schedule=nightly keep=3', incremental: true });
    expect(theirs.extra).toEqual({});
    expect(ours.workflow_name).toBe(theirs.workflow_name);
    expect(ours.pattern).toBe(theirs.pattern);
    const input = JSON.parse(ours.workflow_input) as Record<string, unknown>;
    expect(Object.keys(input)).toEqual(Object.keys(theirs.workflow_input));
    expect(input).toEqual(theirs.workflow_input);
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    expect(theirs.name).toMatch(uuid);
    expect(ours.name).toMatch(uuid);
  });

  it('without --incremental both send null, as troveclient\'s CLI does without the flag', async () => {
    const ours = triggerFor({ instance: 'db1', pattern: '*/5 * * * *', name: 'often', description: undefined, incremental: false, retention: { keep: undefined, maxAge: undefined } }, INSTANCE);
    const theirs = await troveclient({ instance: INSTANCE, pattern: '*/5 * * * *', name: 'often', description: 'schedule=often', incremental: null });
    expect(JSON.parse(ours.workflow_input)).toEqual(theirs.workflow_input);
  });
});
