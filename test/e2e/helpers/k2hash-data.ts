import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { antpickaxProgram } from '../../helpers/antpickax';
import { VOLUME_MOUNT_POINT, vmPath, type Vm } from './hypervisor';

const K2HLINETOOL = antpickaxProgram('k2hlinetool');

/** The node's k2hash data file (the INI's K2HFILE, on the VM's volume) as the host sees it. */
export function dataFileOf(vm: Vm): string {
  const k2hFile = /^K2HFILE\s*=\s*(\S+)$/m.exec(readFileSync(vm.iniPath, 'utf8'))?.[1];
  if (k2hFile === undefined || !k2hFile.startsWith(`${VOLUME_MOUNT_POINT}/`)) throw new Error(`K2HFILE ${String(k2hFile)} is not on the volume`);
  return vmPath(vm, k2hFile);
}

/** A client's write into a node's data file (k2hlinetool: the stand-in, or the installed one). */
export async function k2hSet(file: string, key: string, value: string): Promise<void> {
  await runWithInput(K2HLINETOOL, ['-f', file], `set ${key} ${value}\nquit\n`);
}

export async function k2hGet(file: string, key: string): Promise<string | null> {
  const out = await runWithInput(K2HLINETOOL, ['-f', file, '-ro'], `print ${key}\nquit\n`);
  return new RegExp(`"${key}" => "(.*)"`).exec(out)?.[1] ?? null;
}

function runWithInput(cmd: string, args: readonly string[], input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, [...args], { timeout: 20_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${cmd} failed: ${error.message} ${stderr}`));
      else resolve(stdout);
    });
    child.stdin?.end(input);
  });
}
