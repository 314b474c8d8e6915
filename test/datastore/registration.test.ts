import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { at, clusterProbe, DATASTORE, installBridge, probe, readManifest, readRules, removeTempDirs, runPython, runPythonAsync, tempDir, type RunResult, writeTroveConf } from './helpers';

// Registration into a fresh sqlite Trove database (schema from Trove's own db_sync), run the
// way an operator runs it: `python3 -m k2hdkc_trove_bridge.registration` from the installed
// bridge.

interface Registered {
  datastores: { name: string; default_version_id: string | null }[];
  versions: { id: string; name: string; version: string; manager: string; image_id: string | null; image_tags: string; packages: string; active: boolean }[];
  default_version: boolean;
  packages_split: string[];
  params: { name: string; restart_required: boolean; type: string; min: string | null; max: string | null }[];
  rendered: string;
  render_dict: Record<string, string>;
  value_column_length: number | null;
  dialect: string;
  long_value?: { stored: number; same: boolean };
  widen_sql?: Record<string, unknown>;
}

const manifest = readManifest();
const rules = readRules();
let dir: string;
let site: string;
let conf: string;
let first: RunResult;
let afterFirst: Registered;

function register(...extra: string[]): RunResult {
  return runPython(['-m', 'k2hdkc_trove_bridge.registration', '--config-file', conf, ...extra], { PYTHONPATH: site });
}

/** The rows and rendering as Trove sees them; `longValue` also stores a value that long. */
function registered(longValue?: number): Registered {
  return probe<Registered>('registered', longValue === undefined ? [conf] : [conf, String(longValue)], site);
}

afterAll(removeTempDirs);

beforeAll(() => {
  dir = tempDir('register');
  site = path.join(dir, 'site');
  const templates = path.join(dir, 'templates');
  installBridge(site, ['--templates-dir', templates]);
  conf = writeTroveConf(path.join(dir, 'trove.conf'), [
    'config_source = k2hdkc_bridge',
    `template_path = ${templates}/`,
    '[k2hdkc_bridge]',
    'driver = k2hdkc_bridge',
    '[database]',
    `connection = sqlite:///${path.join(dir, 'trove.sqlite')}`,
  ]);
  first = register('--db-sync');
  afterFirst = registered(300);
});

describe('registration (idempotent, trove-manage code path)', () => {
  it('registers datastore, version, default and parameters from an empty database', () => {
    expect(first.status, first.stderr).toBe(0);
    const v = at(manifest.versions, 0, 'manifest version');
    const row = at(afterFirst.versions, 0, 'registered version');
    expect(afterFirst.datastores).toEqual([{ name: manifest.datastore.name, default_version_id: row.id }]);
    expect(afterFirst.versions).toEqual([
      {
        id: row.id,
        name: v.name,
        version: v.version,
        manager: manifest.datastore.manager,
        image_id: v.image_id === '' ? null : v.image_id,
        image_tags: v.image_tags.join(','),
        packages: v.packages.join(' '),
        active: v.active,
      },
    ]);
    expect(afterFirst.default_version).toBe(true);
    // What the guest's prepare receives (guestagent/api.py splits on whitespace).
    expect(afterFirst.packages_split).toEqual(v.packages);
    const expected = rules
      .map((r) => ({ name: r.name, restart_required: r.restart_required, type: r.type, min: r.min === undefined ? null : String(r.min), max: r.max === undefined ? null : String(r.max) }))
      .sort((a, b) => a.name.localeCompare(b.name));
    expect(afterFirst.params).toEqual(expected);
  });

  it('a second run leaves exactly one datastore and version with the same ids', () => {
    const again = register();
    expect(again.status, again.stderr).toBe(0);
    const now = registered();
    expect(now.datastores).toEqual(afterFirst.datastores);
    expect(now.versions).toEqual(afterFirst.versions);
    expect(now.params).toEqual(afterFirst.params);
  });

  it("Trove's template code renders the installed config.template and parses it with the bridge's parser", () => {
    // The expected dict comes from the template text itself: "name = value" lines.
    const text = readFileSync(path.join(DATASTORE, manifest.configuration.config_template), 'utf8');
    const expected: Record<string, string> = {};
    for (const line of text.split('\n')) {
      const t = line.trim();
      if (t === '' || t.startsWith('#') || !t.includes('=') || t.includes('{')) continue;
      expected[t.slice(0, t.indexOf('=')).trim()] = t.slice(t.indexOf('=') + 1).trim();
    }
    expect(Object.keys(expected).length).toBeGreaterThan(0);
    expect(afterFirst.render_dict).toEqual(expected);
    // Every name the template sets is a registered parameter (or Trove refuses to reset it).
    const names = new Set(afterFirst.params.map((p) => p.name));
    for (const key of Object.keys(afterFirst.render_dict)) expect(names.has(key), key).toBe(true);
    expect(afterFirst.rendered).toContain(`datastore ${manifest.datastore.name} ${at(manifest.versions, 0, 'version').name}`);
    // The registration looked the template up the way the taskmanager does.
    expect(first.stdout).toContain(`config template: ${path.join(dir, 'templates', manifest.datastore.name, 'config.template')}`);
  });

  it('configuration values over 128 characters: the narrow column is detected and handled per database', () => {
    // Trove 18 declares configuration_value VARCHAR(128) (migration 020).
    expect(afterFirst.value_column_length).toBe(128);
    expect(afterFirst.dialect).toBe('sqlite');
    expect(first.stdout).toContain('sqlite does not enforce VARCHAR lengths');
    expect(first.stdout).toContain('(value column: unenforced)');
    // On sqlite a 300-character value (a long extdata-url) round-trips through Trove's models.
    expect(afterFirst.long_value).toEqual({ stored: 300, same: true });
    // Enforcing databases get the ALTER (with --widen-values) or a warning naming it.
    const length = manifest.configuration.value_column_length;
    const sql = afterFirst.widen_sql ?? {};
    expect(sql.mysql).toBe(`ALTER TABLE configuration_parameters MODIFY configuration_value VARCHAR(${length}) NULL`);
    expect(sql.postgresql).toBe(`ALTER TABLE configuration_parameters ALTER COLUMN configuration_value TYPE VARCHAR(${length})`);
    expect(sql.sqlite).toBeNull();
    expect(sql.oracle).toMatchObject({ class: 'RuntimeError' });
  });

  it('a missing config.template is reported (every create would fail)', () => {
    const bare = writeTroveConf(path.join(dir, 'no-templates.conf'), [`template_path = ${path.join(dir, 'empty-templates')}/`, '[database]', `connection = sqlite:///${path.join(dir, 'trove.sqlite')}`]);
    const result = runPython(['-m', 'k2hdkc_trove_bridge.registration', '--config-file', bare], { PYTHONPATH: site });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toContain(`WARNING: no config.template for ${manifest.datastore.name}`);
  });

  it('a broken rules file is refused before anything is written', () => {
    const bad = path.join(dir, 'bad-rules.json');
    const broken = rules.map((r, i) => (i === 1 ? { ...r, type: 'text' } : r));
    writeFileSync(bad, JSON.stringify({ 'configuration-parameters': broken }));
    const result = register('--rules', bad);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`${at(rules, 1, 'rule').name}: type must be one of`);
    expect(registered().params).toEqual(afterFirst.params);
  });

  it('--print-commands gives the trove-manage wrapper commands; the wrapper runs where trove-manage crashes', async () => {
    const name = manifest.datastore.name;
    const version = manifest.datastore.default_version;
    // Independent processes: run them side by side.
    const [printed, stock, wrapped] = await Promise.all([
      runPythonAsync(['-m', 'k2hdkc_trove_bridge.registration', '--config-file', conf, '--print-commands'], { PYTHONPATH: site }),
      // Debian 12's own script dies on inspect.getargspec (Python 3.11).
      runPythonAsync(['/usr/bin/trove-manage', '--config-file', conf, 'datastore_update', name, version]),
      runPythonAsync(['-m', 'k2hdkc_trove_bridge.trove_manage', '--config-file', conf, 'datastore_update', name, version], { PYTHONPATH: site }),
    ]);
    expect(printed.status).toBe(0);
    const lines = printed.stdout.trim().split('\n');
    expect(lines[0]).toContain("k2hdkc_trove_bridge.trove_manage --config-file");
    expect(lines.map((l) => l.split(' ')[5])).toEqual(['datastore_update', 'datastore_version_update', 'db_load_datastore_config_parameters', 'datastore_update']);
    expect(stock.stdout + stock.stderr).toContain("has no attribute 'getargspec'");
    expect(wrapped.status, wrapped.stderr).toBe(0);
    expect(wrapped.stdout).toContain(`Datastore '${name}' updated.`);
  });

  it('--prune drops parameters that left the rules file', () => {
    // Last: it changes the registered parameters.
    const fewer = path.join(dir, 'fewer-rules.json');
    const kept = rules.slice(0, 2);
    writeFileSync(fewer, JSON.stringify({ 'configuration-parameters': kept }));
    const pruned = register('--rules', fewer, '--prune');
    expect(pruned.status, pruned.stderr).toBe(0);
    expect(pruned.stdout).toContain(`removed: ${rules.slice(2).map((r) => r.name).sort().join(', ')}`);
    expect(registered().params.map((p) => p.name).sort()).toEqual(kept.map((r) => r.name).sort());
  });
});

interface ClusterRun {
  loaded: { cluster: string; tasks: string };
  create: { result: boolean; statuses: string[]; cluster_task: string; completed: string[] };
  grow_failed: { result: boolean; new_task: { code: number; error: boolean }; old_tasks: { code: number; error: boolean }[]; cluster_task: string; events: unknown[] };
  view: { types: string[]; count: number };
  shrink_rules: Record<'stranger' | 'below_min' | 'all', { class: string; message: string } | null>;
  shrink_api: { cluster_task: string; again: { class: string; message: string } | null; events: [string, string, string[]][] };
  shrink_tm: { result: boolean; events: unknown[][]; remaining: string[]; cluster_task: string };
  members: string[];
  failed: string;
  task_codes: { NONE: number; GROWING_ERROR: number };
  trove_grow: { class: string; message: string } | string;
  names: string[];
  grow_request: Record<string, unknown>[];
  grow_request_error: string | null;
  network_nics: Record<string, unknown>[];
  address_strings: string[];
}

// The strategies on this registered database, through Trove's own loaders, models and RPC
// clients (cluster_probe.py; fake:// transport, guest doubles per spec §3.3). The whole
// flow through trove-api/-taskmanager and the real agent is test/e2e's.
describe('cluster strategies with Trove 18 models', () => {
  let run: ClusterRun;
  beforeAll(() => {
    run = clusterProbe<ClusterRun>(conf, site);
  });

  it("Trove's loaders pick the bridge's cluster and task classes", () => {
    expect(run.loaded).toEqual({ cluster: 'K2hdkcCluster', tasks: 'K2hdkcClusterTasks' });
  });

  it('create: members prepared (instance ready or healthy) get cluster_complete, then all are healthy', () => {
    expect(run.create.result).toBe(true);
    expect(run.create.completed).toEqual([...run.members].sort());
    expect(run.create.statuses).toEqual(['healthy', 'healthy', 'healthy']);
    expect(run.create.cluster_task).toBe('NONE');
  });

  it('grow: a failed new member is marked GROWING_ERROR alone, nothing is completed, task reset', () => {
    expect(run.grow_failed.result).toBe(false);
    expect(run.grow_failed.new_task).toEqual({ code: run.task_codes.GROWING_ERROR, error: true });
    expect(run.grow_failed.old_tasks).toEqual(run.members.map(() => ({ code: run.task_codes.NONE, error: false })));
    expect(run.grow_failed.events).toEqual([]);
    expect(run.grow_failed.cluster_task).toBe('NONE');
  });

  it('views list every member with type member', () => {
    expect(run.view).toEqual({ types: ['member'], count: run.members.length + 1 });
  });

  it('shrink is refused (HTTP 400) for strangers, below min_cluster_member_count and for everyone', () => {
    expect(run.shrink_rules.stranger).toEqual({ class: 'BadRequest', message: expect.stringContaining('no-such-instance') });
    expect(run.shrink_rules.below_min).toEqual({ class: 'BadRequest', message: expect.stringContaining(`at least ${String(manifest.options.min_cluster_member_count)} members`) });
    expect(run.shrink_rules.all).toEqual({ class: 'BadRequest', message: expect.stringContaining('at least one member') });
  });

  it('shrink: the API casts shrink_cluster and holds the cluster; the task manager stops, deregisters and deletes the member', () => {
    expect(run.shrink_api.events).toEqual([['tm.shrink_cluster', expect.any(String), [run.failed]]]);
    expect(run.shrink_api.cluster_task).toBe('SHRINKING_CLUSTER');
    expect(run.shrink_api.again?.class).toBe('UnprocessableEntity');
    // stop_db with do_not_start_on_reboot=True is what makes the agent leave K2HR3.
    expect(run.shrink_tm.events).toEqual([
      ['stop_db', run.failed, true],
      ['tm.delete_instance', run.failed],
    ]);
    expect(run.shrink_tm.result).toBe(true);
    expect(run.shrink_tm.remaining).toEqual([...run.members].sort());
    expect(run.shrink_tm.cluster_task).toBe('NONE');
  });

  it("grow on a tags-only version: Trove 18's own branch dies on common_glance, the bridge parses the request itself", () => {
    expect(run.trove_grow).toEqual({ class: 'NameError', message: "name 'common_glance' is not defined" });
    expect(run.grow_request).toEqual([{ flavor_id: '9', volume_size: 2, volume_type: 'ssd', name: 'x', availability_zone: 'az1' }]);
    expect(run.grow_request_error).toBe('Every new member needs a flavorRef.');
    expect(run.names).toEqual(['c1-member-2', 'own', 'c1-member-4']);
    expect(run.network_nics).toEqual([{ network_id: 'n1' }, { network_id: 'n2' }, { subnet_id: 's1' }]);
    // The cluster view lists member addresses as strings, as Trove's instance view does.
    expect(run.address_strings).toEqual(['10.0.0.5', '10.0.0.6']);
  });
});
