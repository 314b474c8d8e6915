import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeNetwork, type NetNode } from '../../helpers/netns';
import { rawCtlport } from '../../helpers/raw-ctlport';

// The per-node namespaces of test/helpers/netns: each node has its own lo with its own address,
// nodes bind the same port, reach each other through the hub, reach the host's forwarded
// loopback ports from their own address, and everything is gone after close().

/** A tiny TCP server inside a node: answers `<local> <remote>` and closes. */
function echoServer(node: NetNode, port: number): ChildProcess {
  const { command, args } = node.command(process.execPath, ['-e', `
    const net = require('net');
    const s = net.createServer((c) => c.end(c.localAddress.replace('::ffff:', '') + ' ' + c.remoteAddress.replace('::ffff:', '') + '\\n'));
    s.on('error', (e) => { process.stdout.write(e.code + '\\n'); process.exit(3); });
    s.listen(${port}, '::', () => process.stdout.write('listening\\n'));`]);
  return spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
}

async function firstLine(child: ChildProcess): Promise<string> {
  const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
  return chunk.toString('utf8').trim();
}

/** Runs a node script inside `node` and returns its stdout. */
async function inNode(node: NetNode, script: string): Promise<string> {
  const { command, args } = node.command(process.execPath, ['-e', script]);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  await once(child, 'exit');
  return out.trim();
}

const connectScript = (host: string, port: number): string => `
  const s = require('net').connect(${port}, '${host}');
  s.on('data', (d) => process.stdout.write(String(d)));
  s.on('error', (e) => process.stdout.write(e.code));`;

describe('NodeNetwork', () => {
  let network: NodeNetwork;
  let a: NetNode;
  let b: NetNode;
  let host: Server;
  let hostPort = 0;
  const hostPeers: string[] = [];
  const children: ChildProcess[] = [];
  const PORT = 8021;

  beforeAll(async () => {
    host = createServer((s) => {
      hostPeers.push(String(s.remoteAddress));
      s.end('host\n');
    });
    host.listen(0, '127.0.0.1');
    await once(host, 'listening');
    hostPort = (host.address() as { port: number }).port;
    network = await NodeNetwork.create();
    [a, b] = await Promise.all([network.addNode('127.0.0.51'), network.addNode('127.0.0.52')]);
    await network.forward(hostPort);
  });

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await network?.close();
    host?.close();
  });

  it('gives each node lo with 127.0.0.1/32 and its own /32, and nothing else with an IPv4 address', async () => {
    const out = await inNode(a, `
      const i = require('os').networkInterfaces();
      process.stdout.write(JSON.stringify(Object.values(i).flat().filter((x) => x.family === 'IPv4').map((x) => x.cidr).sort()));`);
    expect(JSON.parse(out)).toEqual(['127.0.0.1/32', '127.0.0.51/32']);
  });

  it('lets two nodes listen on the same port on every address, and reach each other through the hub', async () => {
    const sa = echoServer(a, PORT);
    const sb = echoServer(b, PORT);
    children.push(sa, sb);
    expect(await firstLine(sa)).toBe('listening');
    expect(await firstLine(sb)).toBe('listening');
    expect(await inNode(a, connectScript('127.0.0.52', PORT))).toBe('127.0.0.52 127.0.0.51');
    expect(await inNode(b, connectScript('127.0.0.51', PORT))).toBe('127.0.0.51 127.0.0.52');
    // A second listener on the same port inside one node clashes, as on one real VM.
    const clash = echoServer(a, PORT);
    children.push(clash);
    expect(await firstLine(clash)).toBe('EADDRINUSE');
  });

  it('reaches a node from the test process with the node\'s own address and port', async () => {
    expect(await rawCtlport('127.0.0.52', PORT, 'x')).toBe('127.0.0.52 127.0.0.52\n');
    await expect(rawCtlport('127.0.0.52', PORT + 1, 'x')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('reaches a forwarded port of the host at 127.0.0.1 from the node\'s address, and no other host port', async () => {
    expect(await inNode(b, connectScript('127.0.0.1', hostPort))).toBe('host');
    expect(hostPeers).toEqual(['127.0.0.52']);
    // Not forwarded: nothing listens on it inside the node.
    expect(await inNode(b, connectScript('127.0.0.1', hostPort === 65535 ? 65534 : hostPort + 1))).toBe('ECONNREFUSED');
  });

  it('removes a node and, on close, every namespace it made', async () => {
    const names = (): string[] => (existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.startsWith(network.id)) : []);
    expect(names()).toHaveLength(3);
    await network.removeNode('127.0.0.52');
    expect(names()).toHaveLength(2);
    await network.close();
    expect(names()).toEqual([]);
  });
});
