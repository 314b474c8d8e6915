// Each K2HDKC node of bench/prepare in its own network namespace, as in the tests: the strict
// chmpx stand-in (like real chmpx) listens on *:PORT and takes as itself only a NAME that is an
// address of one of the host's interfaces. No second namespace implementation: the tests' own
// helper (test/helpers/netns, TypeScript) is compiled into dist/bench/netns at start, its plain-JS
// relay.js copied beside it (network.ts starts it from its own directory).
import { spawnSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(import.meta.url);

/** `entry` (with what it imports under `rootDir`) compiled to CommonJS in `outDir`; returns the module. */
export function compileTs(root, rootDir, entry, outDir) {
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  const args = ['--outDir', outDir, '--rootDir', rootDir, '--module', 'commonjs', '--target', 'ES2022', '--moduleResolution', 'node',
    '--esModuleInterop', '--skipLibCheck', '--strict', '--types', 'node', join(rootDir, entry)];
  const r = spawnSync(process.execPath, [tsc, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`compiling ${join(rootDir, entry)} failed: ${r.stdout}${r.stderr}`);
  return require(join(outDir, entry.replace(/\.ts$/, '.js')));
}

/**
 * test/helpers/netns as a module: { NodeNetwork, connectTcp, removeStaleNamespaces }.
 * NodeNetwork removes its namespaces on close(), on process exit, and (next run) after a crash.
 */
export function loadNetns(root) {
  const src = join(root, 'test/helpers/netns');
  const out = join(root, 'dist/bench/netns');
  const netns = compileTs(root, src, 'index.ts', out);
  copyFileSync(join(src, 'relay.js'), join(out, 'relay.js'));
  return netns;
}

/**
 * Ctrl-C / SIGTERM / SIGHUP end the bench through process.exit, so NodeNetwork's exit hook
 * deletes the namespaces (and SIGKILLs the agents and stand-ins inside them) before it ends.
 */
export function exitOnSignals(progress, work) {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]]) {
    process.once(signal, () => {
      progress(`${signal}: removing the nodes' namespaces; work dir kept: ${work}`);
      process.exit(code);
    });
  }
}
