import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { at, installBridge, INSTALLER, portRanges, probeAsync, readManifest, removeTempDirs, runCommand, runPython, tempDir, writeTroveConf } from './helpers';

// The bridge installed as an operator would (datastore/install.py, no pip), loaded by Trove 18's
// own configuration code; every check runs Trove's real modules under Debian's python3.

interface OptionsProbe {
  utils_imported_before_parse: boolean;
  values: Record<string, unknown> & { tcp_ports: [number, number][]; udp_ports: [number, number][] };
  classes: Record<string, string>;
  subclass: Record<string, boolean | string>;
  parser: string;
  other_parsers_kept: string[];
}

const manifest = readManifest();
let dir: string;
let site: string;
let pthSite: string;
// Each probe is one Trove start-up (~2 s); they are independent, so they run side by side.
let noBridge: { source_loaded: boolean; get: { class: string; message: string } | string; parser: boolean };
let options: OptionsProbe;
let overridden: OptionsProbe;
let autoload: { mount_point: string; parser: boolean };

afterAll(removeTempDirs);

beforeAll(async () => {
  dir = tempDir('bridge');
  site = path.join(dir, 'site');
  installBridge(site);
  const bridgeConf = writeTroveConf(path.join(dir, 'bridge.conf'), ['config_source = k2hdkc_bridge', '[k2hdkc_bridge]', 'driver = k2hdkc_bridge']);
  // Installed but not configured: nothing loads it.
  const plain = writeTroveConf(path.join(dir, 'plain.conf'), []);
  const override = writeTroveConf(path.join(dir, 'override.conf'), [
    'config_source = k2hdkc_bridge',
    '[k2hdkc_bridge]',
    'driver = k2hdkc_bridge',
    '[k2hdkc]',
    'min_cluster_member_count = 3',
    'tcp_ports = 8020,9000-9010',
  ]);
  pthSite = path.join(dir, 'pth-site');
  installBridge(pthSite, ['--pth']);
  [noBridge, options, overridden, autoload] = await Promise.all([
    probeAsync<typeof noBridge>('no-bridge', [plain], site),
    probeAsync<OptionsProbe>('options', [bridgeConf], site),
    probeAsync<OptionsProbe>('options', [override], site),
    // The probe adds the directory as a site dir (what reads .pth files); not on PYTHONPATH.
    probeAsync<typeof autoload>('autoload', [pthSite], ''),
  ]);
});

describe('datastore bridge under Trove 18', () => {
  it('stock Trove has no [k2hdkc] group: CONF.get fails with NoSuchOptError without config_source', () => {
    const out = noBridge;
    expect(out.get).toMatchObject({ class: 'NoSuchOptError' });
    expect(out.source_loaded).toBe(false);
    expect(out.parser).toBe(false);
  });

  it('config_source = k2hdkc_bridge registers [k2hdkc] with the manifest values', () => {
    const out = options;
    const { tcp_ports, udp_ports, ...rest } = manifest.options;
    for (const [name, value] of Object.entries(rest)) expect(out.values[name], name).toEqual(value);
    expect(out.values.tcp_ports).toEqual(portRanges(tcp_ports));
    expect(out.values.udp_ports).toEqual(portRanges(udp_ports));
    // Loading the bridge must not import trove.common.utils early (its template ENV reads
    // template_path at import time).
    expect(out.utils_imported_before_parse).toBe(false);
  });

  it("Trove's strategy loader resolves the cluster strategies to subclasses of Trove's bases", () => {
    const out = options;
    expect(out.classes).toEqual({
      cluster_class: 'k2hdkc_trove_bridge.cluster.api.K2hdkcCluster',
      cluster_view_class: 'k2hdkc_trove_bridge.cluster.api.K2hdkcClusterView',
      mgmt_cluster_view_class: 'k2hdkc_trove_bridge.cluster.api.K2hdkcMgmtClusterView',
      task_manager_api_class: 'k2hdkc_trove_bridge.cluster.taskmanager.K2hdkcTaskManagerAPI',
      task_manager_cluster_tasks_class: 'k2hdkc_trove_bridge.cluster.taskmanager.K2hdkcClusterTasks',
      guest_client_class: 'k2hdkc_trove_bridge.cluster.guestagent.K2hdkcGuestAgentAPI',
    });
    expect(out.subclass).toEqual({ cluster: true, view: true, mgmt_view: true, tasks: true, tm_api: true, guest: true, tm_load: 'K2hdkcTaskManagerAPI' });
    expect(out.parser).toBe('k2hdkc_trove_bridge.parser.K2hdkcConfParser');
    // Trove's own parsers stay.
    expect(out.other_parsers_kept).toEqual(expect.arrayContaining(['mysql', 'redis', 'postgresql']));
  });

  it('trove.conf still overrides a bridge default', () => {
    const out = overridden;
    expect(out.values.min_cluster_member_count).toBe(3);
    expect(out.values.tcp_ports).toEqual([
      [8020, 8020],
      [9000, 9010],
    ]);
    expect(out.values.mount_point).toBe(manifest.options.mount_point);
  });

  it('the optional .pth hook registers the group without config_source', () => {
    expect(readFileSync(path.join(pthSite, 'k2hdkc_trove_bridge.pth'), 'utf8')).toBe('import k2hdkc_trove_bridge.autoload\n');
    expect(autoload).toEqual({ mount_point: manifest.options.mount_point, parser: true });
  });

  it('install.py is re-runnable: one package, one dist-info with the oslo.config.driver entry point', () => {
    installBridge(site);
    const infos = readdirSync(site).filter((n) => n.endsWith('.dist-info'));
    expect(infos).toHaveLength(1);
    const info = at(infos, 0, 'dist-info');
    expect(info).toMatch(/^k2hdkc_trove_bridge-\d+\.\d+\.\d+\.dist-info$/);
    const entryPoints = readFileSync(path.join(site, info, 'entry_points.txt'), 'utf8');
    expect(entryPoints).toContain('[oslo.config.driver]\nk2hdkc_bridge = k2hdkc_trove_bridge.driver:Driver');
    const record = readFileSync(path.join(site, info, 'RECORD'), 'utf8').split('\n');
    expect(record).toContain('k2hdkc_trove_bridge/driver.py,,');
    expect(record).toContain('k2hdkc_trove_bridge/manifest.json,,');
    // No leftovers of the swap.
    expect(readdirSync(site).filter((n) => n.startsWith('.') || n.includes('.old-'))).toEqual([]);
    // stevedore (what oslo.config uses) finds exactly this driver.
    const found = runPython(['-c', 'import stevedore; m = stevedore.ExtensionManager("oslo.config.driver"); print(sorted(m.names()))'], { PYTHONPATH: site });
    expect(found.stdout).toContain("'k2hdkc_bridge'");
  });

  it("install.py --system targets a directory on Debian python3's sys.path, outside python3-trove's", () => {
    // Not run here (it would change the machine for every other test); its target is checked.
    const code = ['import importlib.util, json, sys', `s = importlib.util.spec_from_file_location('inst', ${JSON.stringify(INSTALLER)})`, 'm = importlib.util.module_from_spec(s); s.loader.exec_module(m)', 'print(json.dumps([m.system_site(), m.system_site() in sys.path]))'].join('\n');
    const result = runPython(['-c', code]);
    expect(result.status, result.stderr).toBe(0);
    const [target, onPath] = JSON.parse(result.stdout) as [string, boolean];
    expect(target).toMatch(/^\/usr\/local\/lib\/python3\.\d+\/dist-packages$/);
    expect(onPath).toBe(true);
  });

  it("install.py refuses to write into python3-trove's directory", () => {
    const target = '/usr/lib/python3/dist-packages/k2hdkc-should-not-exist';
    const result = runPython([INSTALLER, '--target', target]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('refusing to write into /usr/lib/python3/dist-packages');
    expect(existsSync(target)).toBe(false);
  });

  it('dpkg --verify python3-trove stays clean', () => {
    const result = runCommand('dpkg', ['--verify', 'python3-trove']);
    expect(result.stdout).toBe('');
    expect(result.status).toBe(0);
  });
});
