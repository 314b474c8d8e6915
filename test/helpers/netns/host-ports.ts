import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** Ports of `http(s)://127.0.0.1:<port>`, `rabbit://...@127.0.0.1:<port>` and `localhost` URLs in `text`. */
export function loopbackUrlPorts(text: string): number[] {
  const ports = new Set<number>();
  for (const m of text.matchAll(/[a-z+]+:\/\/(?:[^@\s/]*@)?(?:127\.0\.0\.1|localhost):(\d{1,5})/gi)) ports.add(Number(m[1]));
  return [...ports].filter((p) => p > 0 && p < 65536);
}

/** This process and every process below it. */
function processTree(root: number): Set<number> {
  const parents = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(name), ppid);
    } catch {
      // gone meanwhile
    }
  }
  const tree = new Set([root]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, ppid] of parents) if (!tree.has(pid) && tree.has(ppid)) tree.add(pid), (grew = true);
  }
  return tree;
}

/**
 * TCP ports this process and its children listen on at 127.0.0.1 or 0.0.0.0 (the control plane
 * doubles and fixtures a test started): what its nodes must reach as 127.0.0.1:<port>.
 */
export function ownLoopbackListeners(): number[] {
  const inodes = new Set<string>();
  for (const pid of processTree(process.pid)) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m?.[1] !== undefined) inodes.add(m[1]);
      } catch {
        // closed meanwhile
      }
    }
  }
  const ports = new Set<number>();
  for (const line of readFileSync('/proc/self/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // local_address st ... inode; st 0A = LISTEN; 0100007F = 127.0.0.1, 00000000 = 0.0.0.0
    const [addr, portHex] = (f[1] ?? '').split(':');
    if (f[3] !== '0A' || f[9] === undefined || !inodes.has(f[9])) continue;
    if (addr === '0100007F' || addr === '00000000') ports.add(parseInt(portHex ?? '0', 16));
  }
  return [...ports];
}
