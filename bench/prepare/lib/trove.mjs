// Drives test/trove/harness.py (Trove's own guest client, a real trove-conductor and its sqlite
// database) over its JSON-lines protocol: one request per line on stdin, one answer per line on
// stdout, answered in order. Trove's own logging goes to <workdir>/harness.stderr.log.
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PYTHON } from '../../rpc/lib/procs.mjs';

export class TroveHarness {
  constructor(harnessPath, workdir) {
    mkdirSync(workdir, { recursive: true });
    this.proc = spawn(PYTHON, [harnessPath], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stderr.pipe(createWriteStream(join(workdir, 'harness.stderr.log')));
    this.pending = new Map();
    this.nextId = 1;
    createInterface({ input: this.proc.stdout }).on('line', (line) => {
      const reply = JSON.parse(line);
      const waiter = this.pending.get(reply.id);
      if (waiter === undefined) return;
      this.pending.delete(reply.id);
      if (reply.ok) waiter.resolve(reply.value);
      else waiter.reject(new Error(`harness: ${reply.error}`));
    });
    this.proc.on('exit', (code) => {
      for (const waiter of this.pending.values()) waiter.reject(new Error(`harness exited (${code})`));
      this.pending.clear();
    });
  }

  request(op, args = {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.proc.stdin.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
  }

  async close() {
    await this.request('quit').catch(() => undefined);
    this.proc.stdin.end();
    if (this.proc.exitCode === null) await new Promise((resolve) => this.proc.once('exit', resolve));
  }
}
