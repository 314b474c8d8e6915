import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DATASTORE, removeTempDirs, runPython } from './helpers';

// The Horizon drop-in (datastore/horizon/_1799_k2hdkc.py) against Debian's trove-dashboard
// 19.0.0 (installed by scripts/setup-test-env.sh): its db_capability module keeps two
// module-level allow-lists read at call time by substring match (spec trove-datastore.md §7).

const DROP_IN = path.join(DATASTORE, 'horizon', '_1799_k2hdkc.py');

// Loads the drop-in twice, as Horizon's settings loader would on a reload.
const CHECK = `
import importlib.util, json, sys
from trove_dashboard.content.databases import db_capability as c
before = (c.is_cluster_capable_datastore('k2hdkc'), c.can_modify_cluster('k2hdkc'))
for _ in range(2):
    spec = importlib.util.spec_from_file_location('_1799_k2hdkc', sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
print(json.dumps({
    'before': before,
    'after': (c.is_cluster_capable_datastore('k2hdkc'), c.can_modify_cluster('k2hdkc')),
    'launch': list(c._cluster_capable_datastores),
    'grow_shrink': list(c._cluster_grow_shrink_capable_datastores),
    'redis_still': c.is_cluster_capable_datastore('redis'),
    'panel': [getattr(module, k, None) for k in ('PANEL', 'PANEL_DASHBOARD', 'PANEL_GROUP', 'ADD_PANEL')],
    'disabled': getattr(module, 'DISABLED', False),
}))
`;

interface CheckResult {
  before: [boolean, boolean];
  after: [boolean, boolean];
  launch: string[];
  grow_shrink: string[];
  redis_still: boolean;
  panel: (string | null)[];
  disabled: boolean;
}

function check(): CheckResult {
  const result = runPython(['-c', CHECK, DROP_IN]);
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as CheckResult;
}

afterAll(removeTempDirs);

describe('Horizon drop-in _1799_k2hdkc.py', () => {
  it('adds k2hdkc once to the launch and grow/shrink lists, keeping the others', () => {
    const out = check();
    expect(out.before).toEqual([false, false]);
    expect(out.after).toEqual([true, true]);
    expect(out.launch.filter((n) => n === 'k2hdkc')).toHaveLength(1);
    expect(out.grow_shrink.filter((n) => n === 'k2hdkc')).toHaveLength(1);
    expect(out.launch).toEqual(expect.arrayContaining(['cassandra', 'redis', 'vertica']));
    expect(out.redis_still).toBe(true);
    // It also adds Project > Database > Clusters, which trove-dashboard ships disabled.
    expect(out.panel).toEqual(['database_clusters', 'project', 'database', 'trove_dashboard.content.database_clusters.panel.Clusters']);
    expect(out.disabled).toBe(false);
  });

  it('without trove-dashboard it loads and does nothing', () => {
    // -S: no site-packages, so trove_dashboard is not importable.
    const result = runPython(['-S', '-c', 'import importlib.util, sys; s = importlib.util.spec_from_file_location("m", sys.argv[1]); m = importlib.util.module_from_spec(s); s.loader.exec_module(m); print(m._allow_k2hdkc_clusters())', DROP_IN]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe('False');
  });
});
