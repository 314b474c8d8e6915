import { promises as fs } from 'node:fs';
import type { Logger } from '../../log';

/** What the packaged chmpx.service sets before start (`sysctl fs.mqueue.msg_max=1025`, spec §5.1). */
export const CHMPX_MQUEUE_MSG_MAX = 1025;

/**
 * Raises the POSIX MQ per-queue message limit to at least `minimum` by writing `path`
 * (/proc/sys/fs/mqueue/msg_max). Unlike the packaged unit it never lowers a higher value.
 * Without the privilege (EACCES/EPERM/EROFS) or the file, it logs a warning and returns false:
 * chmpx may still run with the current limit. Returns the value in force afterwards, or false.
 */
export async function ensureMqueueMsgMax(
  log: Logger,
  minimum = CHMPX_MQUEUE_MSG_MAX,
  path = '/proc/sys/fs/mqueue/msg_max',
): Promise<number | false> {
  let current: number;
  try {
    current = Number.parseInt((await fs.readFile(path, 'utf8')).trim(), 10);
  } catch (cause) {
    log.warn({ path, err: (cause as Error).message }, 'cannot read fs.mqueue.msg_max; chmpx may fail to open its queues');
    return false;
  }
  if (Number.isFinite(current) && current >= minimum) return current;
  try {
    // A /proc/sys file takes one write of the number; no temp file + rename here.
    await fs.writeFile(path, `${minimum}\n`);
  } catch (cause) {
    log.warn(
      { path, current, wanted: minimum, err: (cause as Error).message },
      'not permitted to raise fs.mqueue.msg_max; chmpx may fail to open its queues',
    );
    return false;
  }
  log.info({ path, from: current, to: minimum }, 'raised fs.mqueue.msg_max for chmpx');
  return minimum;
}
