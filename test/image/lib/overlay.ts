import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, runOk } from './run';

/** A writable view of a cached root (overlayfs): changes go to a temp dir, the cache stays as built. */
export class RootOverlay {
  readonly root: string;
  private constructor(private readonly scratch: string) {
    this.root = join(scratch, 'merged');
  }

  static async mount(lower: string): Promise<RootOverlay> {
    const scratch = mkdtempSync(join(tmpdir(), 'k2hdkc-image-test-'));
    for (const dir of ['upper', 'work', 'merged']) mkdirSync(join(scratch, dir));
    const overlay = new RootOverlay(scratch);
    await runOk('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${join(scratch, 'upper')},workdir=${join(scratch, 'work')}`, overlay.root]);
    return overlay;
  }

  /** A directory next to the overlay for the test's own files (logs, copies). */
  path(name: string): string {
    return join(this.scratch, name);
  }

  async unmount(): Promise<void> {
    await run('umount', ['-l', this.root]);
    rmSync(this.scratch, { recursive: true, force: true });
  }
}
