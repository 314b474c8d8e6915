import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const LOOP_MAJOR = 7;
/** /dev/loopN nodes made when missing (no udev here); a run needs one per VM. */
const LOOP_NODES = 32;
/** Backing files of e2e runs live under their temp directory (control-plane.ts). */
const E2E_DIR_MARK = '/k2hdkc-e2e-';

/** A loop device over a cinder volume's backing file: what the VM sees as its disk. */
export interface LoopDevice {
  /** /dev/loopN on the host. */
  readonly path: string;
  /** `major:minor`, for the VM's own device node. */
  readonly majorMinor: string;
  readonly file: string;
  /** The file's size when the loop last read it. */
  bytes: number;
}

/** Attaches `file` to the first free loop device (creating /dev/loopN nodes udev would have made). */
export async function attachLoop(file: string): Promise<LoopDevice> {
  await ensureLoopNodes();
  const { stdout } = await run('losetup', ['--find', '--show', file], { timeout: 20_000 });
  const path = stdout.trim();
  const majorMinor = readFileSync(`/sys/block/${basename(path)}/dev`, 'utf8').trim();
  return { path, majorMinor, file, bytes: statSync(file).size };
}

/**
 * After cinder grew the file: `losetup -c` makes the loop device (and so the VM's disk) take the
 * new size, as a compute host's rescan does after an extend. Returns whether it changed.
 */
export async function refreshLoop(loop: LoopDevice): Promise<boolean> {
  if (!existsSync(loop.file)) return false;
  const bytes = statSync(loop.file).size;
  if (bytes === loop.bytes) return false;
  await run('losetup', ['-c', loop.path], { timeout: 20_000 });
  loop.bytes = bytes;
  return true;
}

/** Detaches the loop device; if a mount still holds it, the kernel frees it when that goes (autoclear). */
export async function detachLoop(loop: LoopDevice): Promise<void> {
  await run('losetup', ['-d', loop.path], { timeout: 20_000 }).catch(() => undefined);
}

/** Loop devices of e2e runs whose backing file is gone (a run killed before its cleanup). */
export async function releaseStaleLoops(): Promise<void> {
  const { stdout } = await run('losetup', ['--list', '--json', '--output', 'NAME,BACK-FILE'], { timeout: 20_000 }).catch(() => ({ stdout: '' }));
  if (stdout.trim() === '') return;
  const devices = (JSON.parse(stdout) as { loopdevices?: Array<{ name: string; 'back-file': string | null }> }).loopdevices ?? [];
  for (const device of devices) {
    const back = device['back-file'] ?? '';
    if (!back.includes(E2E_DIR_MARK)) continue;
    const file = back.replace(/ \(deleted\)$/, '');
    if (back.endsWith(' (deleted)') || !existsSync(file)) {
      await run('losetup', ['-d', device.name], { timeout: 20_000 }).catch(() => undefined);
    }
  }
}

async function ensureLoopNodes(): Promise<void> {
  for (let n = 0; n < LOOP_NODES; n += 1) {
    const node = `/dev/loop${n}`;
    if (!existsSync(node)) await run('mknod', ['-m', '0660', node, 'b', String(LOOP_MAJOR), String(n)], { timeout: 5_000 }).catch(() => undefined);
  }
}
