import { connect } from 'node:net';

/**
 * One chmpx control-port command over a plain socket (spec §5.4: one command per connection,
 * reply read to EOF). Tests use it instead of the agent's client so they check what a node
 * really answers, independently of the code under test.
 */
export function rawCtlport(host: string, port: number, command: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, host);
    let reply = '';
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error('ctlport timeout')));
    socket.on('connect', () => socket.write(`${command}\n`));
    socket.on('data', (d: Buffer) => (reply += d.toString('utf8')));
    socket.on('end', () => resolve(reply));
    socket.on('error', reject);
  });
}
