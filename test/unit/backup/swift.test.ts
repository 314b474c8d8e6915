import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { SwiftClient } from '../../../src/backup/swift';
import { BackupError } from '../../../src/errors';

const TOKEN = 'AUTH_tk_secret_token_value_123';
let server: Server | undefined;

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/AUTH_x`;
}

afterEach(async () => {
  server?.closeAllConnections();
  server?.close();
  server = undefined;
});

describe('SwiftClient answers checking', () => {
  it('sends the token and strips quotes from the ETag', async () => {
    let seen: string | undefined;
    const url = await serve((req, res) => {
      seen = req.headers['x-auth-token'] as string;
      res.writeHead(201, { ETag: '"0123456789abcdef0123456789abcdef"' }).end();
    });
    const etag = await new SwiftClient({ storageUrl: url, token: TOKEN }).putObject('c', 'o', 'body');
    expect(seen).toBe(TOKEN);
    expect(etag).toBe('0123456789abcdef0123456789abcdef');
  });

  it('turns an unexpected status into a BackupError with the status and without the token', async () => {
    const url = await serve((_req, res) => res.writeHead(503).end('busy'));
    const err = await new SwiftClient({ storageUrl: url, token: TOKEN }).putContainer('c').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackupError);
    expect((err as BackupError).status).toBe(503);
    expect((err as Error).message).toMatch(/create container of c answered HTTP 503/);
    expect(JSON.stringify(err) + String((err as Error).message)).not.toContain(TOKEN);
  });

  it('refuses an upload answer without an ETag', async () => {
    const url = await serve((_req, res) => res.writeHead(201).end());
    const err = await new SwiftClient({ storageUrl: url, token: TOKEN }).putObject('c', 'o', 'x').catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/without an ETag/);
  });

  it('aborts a streamed upload that Swift stops reading', async () => {
    // The server never reads the body and never answers: the socket fills, then nothing moves.
    const url = await serve(() => undefined);
    const body = new PassThrough();
    const client = new SwiftClient({ storageUrl: url, token: TOKEN, timeoutMs: 300 });
    const upload = client.putObject('c', 'o', body).catch((e: unknown) => e);
    const chunk = Buffer.alloc(64 * 1024);
    for (let i = 0; i < 200 && body.write(chunk); i++);
    const err = await upload;
    expect(err).toBeInstanceOf(BackupError);
    expect((err as Error).message).toMatch(/upload of c\/o/);
    expect((err as Error).message).not.toContain(TOKEN);
  });

  it('returns null from HEAD for a missing object and parses the SLO flag', async () => {
    const url = await serve((req, res) => {
      if (req.url?.endsWith('/missing')) res.writeHead(404).end();
      else res.writeHead(200, { ETag: '"abc"', 'X-Static-Large-Object': 'True', 'Content-Length': '0' }).end();
    });
    const client = new SwiftClient({ storageUrl: url, token: TOKEN });
    expect(await client.headObject('c', 'missing')).toBeNull();
    expect(await client.headObject('c', 'slo')).toMatchObject({ etag: 'abc', staticLargeObject: true });
  });
});
