import { connectTcp } from './netns/registry';

/**
 * One chmpx control-port command over a plain socket (spec §5.4: one command per connection,
 * reply read to EOF). Tests use it instead of the agent's client so they check what a node
 * really answers, independently of the code under test. A node running in a network namespace
 * of test/helpers/netns is reached through its relay, with the same host and port.
 */
export async function rawCtlport(host: string, port: number, command: string, timeoutMs = 2000): Promise<string> {
  const socket = await connectTcp(host, port, timeoutMs);
  return new Promise((resolve, reject) => {
    let reply = '';
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error('ctlport timeout')));
    socket.on('data', (d: Buffer) => (reply += d.toString('utf8')));
    socket.on('end', () => resolve(reply));
    socket.on('error', reject);
    socket.write(`${command}\n`);
    socket.resume();
  });
}
