import type { Context } from './context';
import { CliError } from './errors';
import type { Server } from './openstack';

/**
 * Polling with progress: `check` runs every pollMs until it returns a value other than
 * undefined, or the context's timeout passes (CliError 'timeout' naming what was awaited and
 * the last state seen).
 */
export async function waitFor<T>(ctx: Context, what: string, check: () => Promise<{ done: T } | { state: string }>): Promise<T> {
  const deadline = Date.now() + ctx.timeoutMs;
  let last = '';
  for (;;) {
    const r = await check();
    if ('done' in r) return r.done;
    if (r.state !== last) {
      ctx.progress(`${what}: ${r.state}`);
      last = r.state;
    }
    if (Date.now() >= deadline) throw new CliError('timeout', `gave up waiting for ${what} after ${Math.round(ctx.timeoutMs / 1000)} s (last: ${last})`);
    await new Promise((resolve) => setTimeout(resolve, ctx.pollMs));
  }
}

/** Until every server is ACTIVE; a server in ERROR fails at once with Nova's fault message. */
export async function waitActive(ctx: Context, ids: readonly string[]): Promise<Server[]> {
  return waitFor<Server[]>(ctx, `${ids.length} server(s) to become ACTIVE`, async () => {
    const servers: Server[] = [];
    for (const id of ids) {
      const s = await ctx.nova.getServer(id);
      if (s === null) throw new CliError('service', `Nova server ${id} disappeared while it was being built`);
      if (s.status === 'ERROR') throw new CliError('service', `Nova server ${s.name} (${id}) went to ERROR${s.fault?.message ? `: ${s.fault.message}` : ''}`);
      servers.push(s);
    }
    const active = servers.filter((s) => s.status === 'ACTIVE').length;
    return active === servers.length ? { done: servers } : { state: `${active}/${servers.length} ACTIVE (${servers.map((s) => `${s.name} ${s.status}`).join(', ')})` };
  });
}

/** Until Nova no longer knows any of the servers (DELETE done). */
export async function waitGone(ctx: Context, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await waitFor<undefined>(ctx, `${ids.length} server(s) to be deleted`, async () => {
    let left = 0;
    for (const id of ids) if ((await ctx.nova.getServer(id)) !== null) left++;
    return left === 0 ? { done: undefined } : { state: `${left} left` };
  });
}
