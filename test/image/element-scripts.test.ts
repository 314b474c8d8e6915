import { accessSync, constants, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GUEST_IMAGE } from './lib/paths';
import { run } from './lib/run';

// Cheap checks on every script the image build runs: syntax, exec bits, element layout, shellcheck.
const ELEMENTS = join(GUEST_IMAGE, 'elements');
const PHASES = ['extra-data.d', 'pre-install.d', 'install.d', 'post-install.d'];
const elementNames = readdirSync(ELEMENTS).sort();
const hookScripts = elementNames.flatMap((e) =>
  PHASES.filter((p) => existsSync(join(ELEMENTS, e, p))).flatMap((p) => readdirSync(join(ELEMENTS, e, p)).map((s) => join(ELEMENTS, e, p, s))),
);
const envFiles = elementNames.flatMap((e) =>
  existsSync(join(ELEMENTS, e, 'environment.d')) ? readdirSync(join(ELEMENTS, e, 'environment.d')).map((s) => join(ELEMENTS, e, 'environment.d', s)) : [],
);
const commands = ['build', 'pack', 'check-root', join('lib', 'apply-elements.sh')].map((c) => join(GUEST_IMAGE, c));
const shellcheck = ['/usr/bin/shellcheck'].find((p) => existsSync(p));

describe('guest image scripts', () => {
  it('finds the three elements and their hook scripts', () => {
    expect(elementNames).toEqual(['k2hdkc-antpickax', 'k2hdkc-nodejs', 'k2hdkc-trove-guest']);
    expect(hookScripts.length).toBeGreaterThanOrEqual(7);
  });

  it.each([...hookScripts, ...envFiles, ...commands])('bash -n accepts %s', async (script) => {
    const result = await run('bash', ['-n', script]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it.each([...hookScripts, ...commands])('%s is executable with a bash #! line', (script) => {
    accessSync(script, constants.X_OK);
    expect(readFileSync(script, 'utf8').split('\n')[0]).toBe('#!/bin/bash');
  });

  it.each(elementNames)('element %s has a README.rst and only phases the runner knows', (name) => {
    const entries = readdirSync(join(ELEMENTS, name));
    expect(entries).toContain('README.rst');
    for (const entry of entries) {
      if (statSync(join(ELEMENTS, name, entry)).isDirectory()) expect(['environment.d', ...PHASES]).toContain(entry);
    }
  });

  it('hook script names are unique across elements (dib-run-parts merges them)', () => {
    const names = hookScripts.map((s) => `${s.split('/').slice(-2).join('/')}`);
    expect(new Set(names).size).toBe(names.length);
  });

  it.skipIf(shellcheck === undefined)('shellcheck finds nothing', async () => {
    const result = await run(shellcheck ?? 'shellcheck', ['--shell=bash', '--severity=style', ...hookScripts, ...envFiles, ...commands]);
    expect(result.stdout).toBe('');
    expect(result.code).toBe(0);
  });
});
