import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv from 'ajv';
import { afterAll, describe, expect, it } from 'vitest';
import { DATASTORE, portRanges, readManifest, readRules, removeTempDirs, REPO, runPython } from './helpers';

// The manifest is the single source; these checks fail when a derived or neighbouring file
// drifts from it.

const manifest = readManifest();
const schema = JSON.parse(readFileSync(path.join(DATASTORE, 'manifest.schema.json'), 'utf8')) as object;

function validator() {
  return new Ajv({ allErrors: true, strict: true }).compile(schema);
}

afterAll(removeTempDirs);

describe('datastore manifest', () => {
  it('validates against manifest.schema.json', () => {
    const validate = validator();
    expect(validate(manifest), JSON.stringify(validate.errors)).toBe(true);
  });

  it('the schema rejects what Trove cannot take', () => {
    const validate = validator();
    // A "-" in the name breaks trove-dashboard's "<datastore>-<version>" parsing.
    expect(validate({ ...manifest, datastore: { ...manifest.datastore, name: 'k2h-dkc' } })).toBe(false);
    // A version without packages makes prepare crash on None.split().
    expect(validate({ ...manifest, versions: [{ ...manifest.versions[0], packages: [] }] })).toBe(false);
    expect(validate({ ...manifest, options: { ...manifest.options, tcp_ports: ['80a'] } })).toBe(false);
    // chmpx keeps ports as signed 16-bit numbers: nothing above 32767, in ranges either.
    expect(validate({ ...manifest, options: { ...manifest.options, tcp_ports: ['32768'] } })).toBe(false);
    expect(validate({ ...manifest, options: { ...manifest.options, tcp_ports: ['32000-40000'] } })).toBe(false);
    expect(validate({ ...manifest, options: { ...manifest.options, tcp_ports: ['0'] } })).toBe(false);
    expect(validate({ ...manifest, options: { ...manifest.options, tcp_ports: ['1', '32767', '9000-9010'] } })).toBe(true);
    expect(validate({ ...manifest, configuration: { ...manifest.configuration, value_column_length: 64 } })).toBe(false);
  });

  it('names: datastore = manager (Trove reads CONF.get(<datastore name>)), default version listed', () => {
    expect(manifest.datastore.name).toBe(manifest.datastore.manager);
    expect(manifest.versions.map((v) => v.name)).toContain(manifest.datastore.default_version);
  });

  it('the security group opens every CHMPX port the config template sets', () => {
    const template = readFileSync(path.join(DATASTORE, manifest.configuration.config_template), 'utf8');
    const ranges = portRanges(manifest.options.tcp_ports);
    const ports = [...template.matchAll(/^\s*(chmpx-[a-z-]*port)\s*=\s*(\d+)\s*$/gm)].map((m) => [m[1], Number(m[2])] as const);
    expect(ports.length).toBeGreaterThan(0);
    for (const [name, port] of ports) expect(ranges.some(([a, b]) => port >= a && port <= b), `${name} ${port}`).toBe(true);
  });

  it('every parameter the template sets has a validation rule', () => {
    const template = readFileSync(path.join(DATASTORE, manifest.configuration.config_template), 'utf8');
    const names = new Set(readRules().map((r) => r.name));
    const set = [...template.matchAll(/^\s*([a-z][a-z0-9-]*)\s*=/gm)].map((m) => m[1] ?? '');
    expect(set.length).toBeGreaterThan(0);
    for (const name of set) expect(names.has(name), name).toBe(true);
  });

  it('datastore/trove.conf.k2hdkc is what the bridge derives from the manifest', () => {
    const derived = runPython(['-m', 'k2hdkc_trove_bridge.derive', 'trove-conf'], { PYTHONPATH: path.join(DATASTORE, 'bridge') });
    expect(derived.status, derived.stderr).toBe(0);
    const committed = readFileSync(path.join(DATASTORE, 'trove.conf.k2hdkc'), 'utf8');
    expect(committed).toBe(derived.stdout);
    // And it carries the manifest's values, not just any text.
    expect(committed).toContain(`#tcp_ports = ${manifest.options.tcp_ports.join(',')}`);
    expect(committed).toContain(`#mount_point = ${String(manifest.options.mount_point)}`);
    expect(committed).toContain('config_source = k2hdkc_bridge');
  });

  it('the packaged pyproject declares the same entry point the installer writes', () => {
    const pyproject = readFileSync(path.join(DATASTORE, 'bridge', 'pyproject.toml'), 'utf8');
    const installer = readFileSync(path.join(DATASTORE, 'install.py'), 'utf8');
    expect(pyproject).toContain('[project.entry-points."oslo.config.driver"]\nk2hdkc_bridge = "k2hdkc_trove_bridge.driver:Driver"');
    expect(installer).toContain("'k2hdkc_bridge = k2hdkc_trove_bridge.driver:Driver");
    const init = readFileSync(path.join(DATASTORE, 'bridge', 'k2hdkc_trove_bridge', '__init__.py'), 'utf8');
    const version = /__version__ = '([^']+)'/.exec(init)?.[1];
    expect(pyproject).toContain(`version = "${version}"`);
    // The repository's own package version, so releases move together.
    const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
    expect(version).toBe(pkg.version);
  });
});
