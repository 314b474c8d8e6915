import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureMqueueMsgMax } from '../../../../src/k2hdkc/processes/mqueue';
import { sinkLogger } from './helpers';

function msgMaxFile(value: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'k2h-mq-')), 'msg_max');
  writeFileSync(path, value);
  return path;
}

describe('ensureMqueueMsgMax', () => {
  it('raises a lower limit to the packaged unit value 1025', async () => {
    const { log, lines } = sinkLogger();
    const path = msgMaxFile('10\n');
    expect(await ensureMqueueMsgMax(log, undefined, path)).toBe(1025);
    expect(readFileSync(path, 'utf8')).toBe('1025\n');
    expect(lines.find((l) => l.msg === 'raised fs.mqueue.msg_max for chmpx')).toMatchObject({ from: 10, to: 1025 });
  });

  it('never lowers a higher limit', async () => {
    const path = msgMaxFile('4096\n');
    expect(await ensureMqueueMsgMax(sinkLogger().log, 1025, path)).toBe(4096);
    expect(readFileSync(path, 'utf8')).toBe('4096\n');
  });

  it('warns and returns false when the value may not be written', async () => {
    const { log, lines } = sinkLogger();
    // A read-only sysctl: even root gets EACCES, as an unprivileged agent would on msg_max.
    expect(await ensureMqueueMsgMax(log, 1025, '/proc/sys/kernel/osrelease')).toBe(false);
    expect(lines.find((l) => l.level === 'warn')).toMatchObject({ wanted: 1025, err: expect.stringMatching(/EACCES/) });
  });

  it('warns and returns false when the file is missing', async () => {
    const { log, lines } = sinkLogger();
    expect(await ensureMqueueMsgMax(log, 1025, join(tmpdir(), 'no-such-dir-k2h', 'msg_max'))).toBe(false);
    expect(lines.some((l) => l.level === 'warn')).toBe(true);
  });
});
