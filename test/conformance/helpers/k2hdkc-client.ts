import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { antpickaxProgram } from '../../helpers/antpickax';

// A K2HDKC client as an operator runs one: K2HDKC's `k2hdkclinetool` on a node, joined to that
// node's chmpx (`-conf <its INI> -ctlport <its control port>`), running a command file (`-run`),
// and k2hash's `k2hlinetool` reading a server's data file. The stand-ins or, with
// K2HDKC_TROVE_ANTPICKAX_BIN, the installed programs (test/helpers/antpickax.ts).

const run = promisify(execFile);

export interface LineToolResult {
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `commands` (a `quit` is added) through k2hdkclinetool joined to the chmpx of `ctlport`
 * configured by `iniPath`; `inNode` wraps the command line to run it on the node (env.inNode).
 * `scratchDir` holds the command file.
 */
export async function k2hdkcLineTool(
  inNode: (command: string, args: string[]) => Promise<{ command: string; args: string[] }>,
  options: { iniPath: string; ctlport: number; scratchDir: string },
  commands: readonly string[],
): Promise<LineToolResult> {
  const file = path.join(options.scratchDir, `k2hdkclinetool-${process.hrtime.bigint()}.cmd`);
  writeFileSync(file, `${[...commands, 'quit'].join('\n')}\n`);
  const { command, args } = await inNode(antpickaxProgram('k2hdkclinetool'), ['-conf', options.iniPath, '-ctlport', String(options.ctlport), '-run', file]);
  const { stdout, stderr } = await run(command, args, { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 });
  return { stdout, stderr };
}

/** The `"<key>" => "<value>"` lines of k2hdkclinetool's print commands, as a key → value map. */
export function printedValues(stdout: string): Map<string, string> {
  return new Map([...stdout.matchAll(/^"([^"]*)" => "([^"]*)"$/gm)].map((m) => [m[1]!, m[2]!]));
}

/** `Assigned Element` of a k2hash data file (its key count), read with `k2hlinetool -ro`. */
export async function assignedElements(dataFile: string): Promise<number> {
  const child = execFile(antpickaxProgram('k2hlinetool'), ['-f', dataFile, '-ro'], { timeout: 30_000 });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stdin?.end('info state\nquit\n');
  await new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', () => resolve());
  });
  const m = /Assigned Element\s*=\s*(\d+)/.exec(out);
  if (m === null) throw new Error(`k2hlinetool -f ${dataFile}: no "Assigned Element" in ${JSON.stringify(out)}`);
  return Number(m[1]);
}
