import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { K2hr3Client } from '../../../src/k2hr3/client';
import { fetchExtdata } from '../../../src/k2hr3/extdata';
import type { ComputeDouble } from '../../doubles/openstack-compute';

/**
 * A compute host for the CLI's tests without VMs: for each server the compute double recorded,
 * it does what the guest agent does first on a standalone VM (src/standalone.ts): read the
 * extdata URL that cloud-init wrote from the user-data, fetch the bootstrap from K2HR3 and
 * register the instance id in the role, then reports the server ACTIVE. Deleted servers are
 * powered off (DELETED). Servers whose name is in `failBoot` go to ERROR with a fault instead,
 * as when nova's scheduler finds no host. No chmpx runs: the ring is the e2e's business.
 */
export class RegisteringHost {
  readonly failBoot = new Set<string>();
  private readonly done = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  errors: string[] = [];

  constructor(private readonly compute: ComputeDouble) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), 100);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private power(id: string, status: string, fault?: string): void {
    const dir = path.join(this.compute.state.cloudDir, 'power');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${id}.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify({ status, updated: new Date().toISOString(), ...(fault ? { fault } : {}) }));
    renameSync(`${file}.tmp`, file);
  }

  private async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      for (const s of this.compute.state.servers.values()) {
        const status = this.compute.state.power(s.id)?.status;
        if (s.deleted) {
          if (status !== 'DELETED') this.power(s.id, 'DELETED');
          continue;
        }
        if (this.done.has(s.id)) continue;
        this.done.add(s.id);
        if (this.failBoot.has(s.name)) {
          this.power(s.id, 'ERROR', 'No valid host was found. There are not enough hosts available.');
          continue;
        }
        try {
          const confFile = s.injected.find((f) => /^\/etc\/k2hdkc-trove\/(server|slave)\.conf$/.test(f));
          if (confFile === undefined) throw new Error(`${s.name}: no agent configuration in its user-data`);
          const conf = readFileSync(path.join(s.root, confFile), 'utf8');
          const url = /^extdata_url = (\S+)$/m.exec(conf)?.[1];
          if (url === undefined) throw new Error(`${s.name}: no extdata_url`);
          const boot = await fetchExtdata(url, { attempts: 1 });
          await new K2hr3Client({ apiUrl: boot.apiUrl, attempts: 1 }).registerHost(boot.roleYrn, boot.roleToken, { cuk: s.id, tag: s.name });
          this.power(s.id, 'ACTIVE');
        } catch (error) {
          this.errors.push((error as Error).message);
          this.power(s.id, 'ERROR', (error as Error).message);
        }
      }
    } finally {
      this.busy = false;
    }
  }
}
