import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/*
 * The import rules of src/ (README "Layout"): no import circles, and every import goes from a
 * higher layer to a lower one. Units of the same rank are siblings that know nothing of each
 * other. A file belongs to the unit of the longest prefix below that matches its path.
 */

const SRC = resolve(__dirname, '../../src');

/** [path prefix inside src/ (a folder, or a file without .ts), rank]; higher may import lower. */
const LAYERS: readonly (readonly [string, number])[] = [
  ['errors', 0],
  ['version', 0],
  ['log', 1],
  ['validation/validators', 1],
  ['config', 2],
  ['system', 3],
  ['keystone', 4],
  ['k2hr3', 4],
  ['rpc', 4],
  ['conductor', 5],
  ['http', 5],
  // Registers the trove.backup_create workflow in Mistral (bin/k2hdkc-trove-mistral-register).
  ['mistral', 5],
  ['k2hdkc', 5],
  ['backup', 6],
  ['logs', 7],
  // The Datastore contract is what both prepare and the datastores build on.
  ['guest/datastore/contract', 8],
  ['guest/prepare', 9],
  ['guest/datastore', 10],
  ['guest/methods', 11],
  ['datastores', 12],
  ['scheduler', 12],
  // Build-time: compiles the served schemas into validators (npm run build).
  ['validation/generate', 12],
  ['agent', 13],
  ['standalone', 13],
  ['cli', 14],
  // The user's command-line tool (bin/k2hdkc-dbaas), beside the agent's.
  ['dbaas-cli', 14],
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

function resolveImport(from: string, specifier: string): string | null {
  const base = resolve(dirname(from), specifier);
  for (const candidate of [`${base}.ts`, join(base, 'index.ts')]) {
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not this one
    }
  }
  return null;
}

/** Every relative import of a file: static, type-only, re-exports and dynamic import(). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)'(\.[^']*)'/g)].map((m) => m[1] ?? '');
  return specifiers.map((s) => {
    const target = resolveImport(file, s);
    if (target === null) throw new Error(`${relative(SRC, file)}: cannot resolve '${s}'`);
    return target;
  });
}

/**
 * What loading a file loads at once: its static imports that survive compilation (not
 * `import type`, not a dynamic import()), as files inside src/ and as package names.
 */
function startupImportsOf(file: string): { files: string[]; packages: string[] } {
  const text = readFileSync(file, 'utf8');
  const statics = [...text.matchAll(/^(?:import|export)\s+(?!type\s)[^;]*?\bfrom\s+'([^']+)'|^import\s+'([^']+)'/gms)].map((m) => m[1] ?? m[2] ?? '');
  return {
    files: statics.filter((s) => s.startsWith('.')).map((s) => resolveImport(file, s) ?? s),
    packages: statics.filter((s) => !s.startsWith('.') && !s.startsWith('node:')),
  };
}

/** Every src/ file and package loaded, transitively, when `entry` is loaded. */
function loadedAtStartup(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    const found = startupImportsOf(file);
    found.packages.forEach((p) => packages.add(p));
    found.files.forEach(visit);
  };
  visit(entry);
  return { files, packages };
}

function unitOf(file: string): { prefix: string; rank: number } {
  const path = relative(SRC, file).replace(/\.ts$/, '');
  let best: { prefix: string; rank: number } | null = null;
  for (const [prefix, rank] of LAYERS) {
    if ((path === prefix || path.startsWith(`${prefix}/`)) && (best === null || prefix.length > best.prefix.length)) best = { prefix, rank };
  }
  if (best === null) throw new Error(`src/${path}.ts is in no layer: add its folder to LAYERS in test/unit/imports.test.ts`);
  return best;
}

/** Imports that leave their unit for one of the same or a higher rank, as readable lines. */
function upwardImports(graph: ReadonlyMap<string, readonly string[]>): string[] {
  const upward: string[] = [];
  for (const [file, targets] of graph) {
    const from = unitOf(file);
    for (const target of targets) {
      const to = unitOf(target);
      if (to.prefix !== from.prefix && to.rank >= from.rank) {
        upward.push(`src/${relative(SRC, file)} (${from.prefix}, rank ${from.rank}) imports src/${relative(SRC, target)} (${to.prefix}, rank ${to.rank})`);
      }
    }
  }
  return upward;
}

/** Every circle a depth-first walk meets, as `a -> b -> a`. */
function circlesOf(graph: ReadonlyMap<string, readonly string[]>): string[] {
  const circles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const target of graph.get(file) ?? []) {
      if (state.get(target) === 'open') {
        circles.push(stack.slice(stack.indexOf(target)).concat(target).map((f) => relative(SRC, f)).join(' -> '));
      } else if (!state.has(target)) {
        visit(target);
      }
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return circles;
}

describe('src/ imports', () => {
  const graph = new Map(sourceFiles(SRC).map((file) => [file, importsOf(file)]));

  it('run only downwards between layers (or within one unit)', () => {
    expect(upwardImports(graph)).toEqual([]);
  });

  it('form no circle', () => {
    expect(circlesOf(graph)).toEqual([]);
  });

  it('are all seen by the checker, which reports an upward import and a circle', () => {
    // A checker that finds no imports would pass everything.
    expect(graph.get(join(SRC, 'agent.ts'))?.map((f) => relative(SRC, f))).toContain('guest/methods/table.ts');
    const at = (path: string): string => join(SRC, path);
    const bad = new Map<string, string[]>([
      [at('rpc/server.ts'), [at('guest/methods/table.ts')]],
      [at('guest/methods/table.ts'), [at('guest/methods/logs.ts')]],
      [at('guest/methods/logs.ts'), [at('guest/methods/table.ts')]],
    ]);
    expect(upwardImports(bad)).toEqual(['src/rpc/server.ts (rpc, rank 4) imports src/guest/methods/table.ts (guest/methods, rank 11)']);
    expect(circlesOf(bad)).toEqual(['guest/methods/table.ts -> guest/methods/logs.ts -> guest/methods/table.ts']);
  });
});

describe('what the agent loads when it starts', () => {
  // A guest that never backs up, publishes a log or self-provisions never pays their memory
  // (issue 11: the production guest's RSS); these load on first use (src/system/load-once.ts).
  const loaded = loadedAtStartup(join(SRC, 'agent.ts'));
  const files = [...loaded.files].map((f) => relative(SRC, f));

  it('leaves out the backup pipeline, the Swift and Keystone clients and the log publisher', () => {
    expect(files).toContain('guest/methods/backup.ts');
    expect(files.filter((f) => /^(backup\/(create|restore|k2h-restore|swift|stream|archive)|keystone\/token-project|logs\/guest-logs)\.ts$/.test(f))).toEqual([]);
  });

  it('leaves out axios, tar, ajv and fastify', () => {
    expect(loaded.packages).toContain('amqplib');
    expect([...loaded.packages].filter((p) => /^(axios|tar|ajv|fastify)(\/|$)/.test(p))).toEqual([]);
  });
});
