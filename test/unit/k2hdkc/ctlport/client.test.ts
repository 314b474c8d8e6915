import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CtlportClient, probeHealth, sendCtlportCommand } from '../../../../src/k2hdkc/ctlport';
import { CtlportError } from '../../../../src/errors';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const SELF = readFileSync(join(__dirname, '../../../fixtures/k2hdkc/selfstatus-server.txt'), 'utf8');

/** A one-shot control port: records what it got, then runs `answer`. */
async function fakeCtlport(answer: (socket: Socket, received: string) => void): Promise<{ server: Server; port: number; received: string[] }> {
  const received: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.once('data', (d) => {
      received.push(d.toString('utf8'));
      answer(socket, d.toString('utf8'));
    });
  });
  server.on('close', () => sockets.forEach((s) => s.destroy()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  open.push(server);
  return { server, port: addr.port, received };
}
const open: Server[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) {
    s.close();
    s.emit('close');
  }
});

describe('sendCtlportCommand', () => {
  it('sends the command with a newline and returns everything up to the close', async () => {
    const { port, received } = await fakeCtlport((s) => {
      s.write(SELF.slice(0, 100));
      setImmediate(() => s.end(SELF.slice(100)));
    });
    await expect(sendCtlportCommand({ host: '127.0.0.1', port }, 'SELFSTATUS')).resolves.toBe(SELF);
    expect(received).toEqual(['SELFSTATUS\n']);
  });

  it('times out when chmpx never closes the connection', async () => {
    const { port } = await fakeCtlport((s) => s.write('SUCC'));
    const err = await sendCtlportCommand({ host: '127.0.0.1', port }, 'MERGE', { readTimeoutMs: 50 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CtlportError);
    expect(err).toMatchObject({ failure: 'timeout', code: 'K2H_ERR_CTLPORT_TIMEOUT', command: 'MERGE' });
  });

  it('reports a refused connection as a connect failure naming the endpoint', async () => {
    const { server, port } = await fakeCtlport(() => undefined);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const err = await sendCtlportCommand({ host: '127.0.0.1', port }, 'SELFSTATUS').catch((e: unknown) => e);
    expect(err).toMatchObject({ failure: 'connect' });
    expect((err as Error).message).toContain(`127.0.0.1:${port}`);
  });

  it('stops waiting when the signal aborts', async () => {
    const { port } = await fakeCtlport(() => undefined);
    const ac = new AbortController();
    const pending = sendCtlportCommand({ host: '127.0.0.1', port }, 'ALLSTATUS', { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    await expect(pending).rejects.toMatchObject({ failure: 'aborted' });
    await expect(sendCtlportCommand({ host: '127.0.0.1', port }, 'X', { signal: ac.signal })).rejects.toMatchObject({ failure: 'aborted' });
  });

  it('refuses a reply larger than the limit', async () => {
    const { port } = await fakeCtlport((s) => s.end('x'.repeat(5000)));
    await expect(sendCtlportCommand({ host: '127.0.0.1', port }, 'DUMP', { maxReplyBytes: 1000 })).rejects.toMatchObject({ failure: 'malformed' });
  });
});

describe('CtlportClient', () => {
  it('formats SERVICEOUT as host:ctlport:<custom seed>', async () => {
    const { port, received } = await fakeCtlport((s) => s.end('SUCCEED\n'));
    const client = new CtlportClient({ host: '127.0.0.1', port });
    await expect(client.serviceOut({ host: '127.0.0.3', ctlport: 8021, id: 'server-b' })).resolves.toBe('SUCCEED');
    expect(received).toEqual(['SERVICEOUT 127.0.0.3:8021:server-b\n']);
  });

  it('refuses a SERVICEOUT target that would split into other arguments', async () => {
    const client = new CtlportClient({ host: '127.0.0.1', port: 1 });
    await expect(client.serviceOut({ host: 'a b', ctlport: 8021, id: 'x' })).rejects.toMatchObject({ failure: 'rejected' });
    await expect(client.serviceOut({ host: 'a', ctlport: 8021, id: '' })).rejects.toBeInstanceOf(CtlportError);
  });

  it('surfaces an ERROR: reply as CtlportError with the reply text', async () => {
    const reply = 'ERROR: Could not change status, because status is not allowed.\n';
    const { port } = await fakeCtlport((s) => s.end(reply));
    await expect(new CtlportClient({ host: '127.0.0.1', port }).serviceIn()).rejects.toMatchObject({
      failure: 'rejected',
      command: 'SERVICEIN',
      reply,
    });
  });
});

describe('probeHealth', () => {
  it('is healthy for a serving server and shutdown when nothing listens', async () => {
    const { server, port } = await fakeCtlport((s) => s.end(SELF));
    const client = new CtlportClient({ host: '127.0.0.1', port });
    await expect(probeHealth(client, 'server')).resolves.toMatchObject({ health: 'healthy', self: { serverName: '127.0.0.2' } });
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const down = await probeHealth(client, 'server');
    expect(down.health).toBe('shutdown');
    expect(down.error).toBeInstanceOf(CtlportError);
  });

  it('is running when chmpx answers with an ERROR:', async () => {
    const { port } = await fakeCtlport((s) => s.end('ERROR: Command must run on server mode.\n'));
    await expect(probeHealth(new CtlportClient({ host: '127.0.0.1', port }), 'server')).resolves.toMatchObject({ health: 'running' });
  });
});
