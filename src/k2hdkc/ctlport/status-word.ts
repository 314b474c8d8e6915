/**
 * The chmpx status word, printed as `0xHEX(SAFE -> [RING][LIVE][ACTION][OPERATE][SUSPEND])`
 * (k2hdkc-observed.md "Status word"; spec §5.4).
 */
export type RingState = 'SLAVE' | 'SERVICE OUT' | 'SERVICE IN';
export type LiveState = 'UP' | 'DOWN';
export type ActionState = 'n/a' | 'ADD' | 'DELETE';
export type OperateState = 'Nothing' | 'Pending' | 'Doing' | 'Done';

/** A decoded status word. `text` is the part after the hex code, without the parentheses. */
export interface ChmpxStatus {
  readonly code: number;
  readonly safe: boolean;
  readonly ring: RingState;
  readonly live: LiveState;
  readonly action: ActionState;
  readonly operate: OperateState;
  /** True while no k2hdkc server process has attached to this chmpx ([Suspend]). */
  readonly suspend: boolean;
  readonly text: string;
}

const RINGS: Record<string, RingState> = { SLAVE: 'SLAVE', 'SERVICE OUT': 'SERVICE OUT', 'SERVICE IN': 'SERVICE IN' };
const LIVES: Record<string, LiveState> = { UP: 'UP', DOWN: 'DOWN' };
const ACTIONS: Record<string, ActionState> = { 'n/a': 'n/a', ADD: 'ADD', DELETE: 'DELETE' };
const OPERATES: Record<string, OperateState> = { Nothing: 'Nothing', Pending: 'Pending', Doing: 'Doing', Done: 'Done' };
const SUSPENDS: Record<string, boolean> = { NoSuspend: false, Suspend: true };

/**
 * Parses `0x21(SAFE -> [SERVICE IN][UP][n/a][Nothing][NoSuspend])`. The bracketed words are
 * what chmpx printed and win; when they are missing or cut short the bits of the hex code are
 * decoded instead (masks from the observed table). Returns undefined for anything else.
 */
export function parseStatusWord(value: string): ChmpxStatus | undefined {
  const m = /^\s*0x([0-9a-fA-F]+)\s*(?:\((.*)\))?\s*$/.exec(value);
  if (!m?.[1]) return undefined;
  const code = Number.parseInt(m[1], 16);
  const text = (m[2] ?? '').trim();
  const bits = decodeBits(code);
  const words = [...text.matchAll(/\[([^\]]*)\]/g)].map((w) => w[1] ?? '');
  const safe = !/NOT\s+SAFE/i.test(text);
  if (words.length === 5) {
    const [r, l, a, o, s] = words as [string, string, string, string, string];
    const ring = RINGS[r];
    const live = LIVES[l];
    const action = ACTIONS[a];
    const operate = OPERATES[o];
    const suspend = SUSPENDS[s];
    if (ring && live && action && operate && suspend !== undefined) {
      return { code, safe, ring, live, action, operate, suspend, text };
    }
  }
  return { code, safe, ...bits, text };
}

function decodeBits(code: number): Pick<ChmpxStatus, 'ring' | 'live' | 'action' | 'operate' | 'suspend'> {
  const ringBits = code & 0x30;
  const ring: RingState = ringBits === 0x20 ? 'SERVICE IN' : ringBits === 0x10 ? 'SERVICE OUT' : 'SLAVE';
  const actionBits = code & 0x300;
  const action: ActionState = actionBits === 0x100 ? 'ADD' : actionBits === 0x200 ? 'DELETE' : 'n/a';
  const operate = (['Nothing', 'Pending', 'Doing', 'Done'] as const)[(code & 0x3000) >> 12] ?? 'Nothing';
  return { ring, live: code & 0x1 ? 'UP' : 'DOWN', action, operate, suspend: (code & 0x10000) !== 0 };
}

/** `[SERVICE IN][UP][n/a][Nothing][NoSuspend]`: a server that serves and is not merging. */
export function isServingServer(s: ChmpxStatus): boolean {
  return s.ring === 'SERVICE IN' && s.live === 'UP' && s.action === 'n/a' && s.operate === 'Nothing' && !s.suspend;
}

/** `[SLAVE][UP]...`: a slave chmpx that is up. */
export function isUpSlave(s: ChmpxStatus): boolean {
  return s.ring === 'SLAVE' && s.live === 'UP';
}
