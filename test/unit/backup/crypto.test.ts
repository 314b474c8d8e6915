import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { createDecryptStream, createEncryptStream } from '../../../src/backup/crypto';
import { BackupError } from '../../../src/errors';

const PASS = 'k2hdkc backup key ü 0123456789';

/** Runs the real openssl with Trove 18's arguments; the passphrase goes through the environment. */
function openssl(decrypt: boolean, input: Buffer): Promise<{ code: number | null; out: Buffer; err: string }> {
  const args = ['enc', ...(decrypt ? ['-d'] : []), '-aes-256-cbc', '-md', 'sha512', '-pbkdf2', '-iter', '10000', '-salt', '-pass', 'env:K2H_TEST_PASS'];
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', args, { env: { ...process.env, K2H_TEST_PASS: PASS }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out: Buffer.concat(out), err }));
    child.stdin.end(input);
  });
}

/** Feeds `data` in uneven chunks so header and block boundaries fall mid-chunk. */
function chunked(data: Buffer): Readable {
  const parts: Buffer[] = [];
  for (let i = 0, n = 1; i < data.length; i += n, n = (n * 7 + 3) % 5000 + 1) parts.push(data.subarray(i, i + n));
  return Readable.from(parts);
}

async function encrypt(data: Buffer, pass = PASS): Promise<Buffer> {
  const enc = createEncryptStream(pass);
  const [out] = await Promise.all([buffer(enc), pipeline(chunked(data), enc)]);
  return out;
}

async function decrypt(data: Buffer, pass = PASS): Promise<Buffer> {
  const dec = createDecryptStream(pass);
  const [out] = await Promise.all([buffer(dec), pipeline(chunked(data), dec)]);
  return out;
}

describe('openssl-compatible backup encryption', () => {
  const sizes = [0, 1, 15, 16, 17, 100_000];

  it.each(sizes)('openssl decrypts what we encrypt (%i bytes)', async (n) => {
    const data = randomBytes(n);
    const enc = await encrypt(data);
    expect(enc.subarray(0, 8).toString('latin1')).toBe('Salted__');
    expect(enc.length).toBe(16 + (Math.floor(n / 16) + 1) * 16);
    const res = await openssl(true, enc);
    expect(res.code, res.err).toBe(0);
    expect(res.out.equals(data)).toBe(true);
  });

  it.each(sizes)('we decrypt what openssl encrypts (%i bytes)', async (n) => {
    const data = randomBytes(n);
    const res = await openssl(false, data);
    expect(res.code, res.err).toBe(0);
    expect((await decrypt(res.out)).equals(data)).toBe(true);
  });

  it('uses a fresh salt each time', async () => {
    const data = Buffer.from('same input');
    const a = await encrypt(data);
    const b = await encrypt(data);
    expect(a.subarray(8, 16).equals(b.subarray(8, 16))).toBe(false);
    expect(a.equals(b)).toBe(false);
  });

  it('refuses a wrong key with a BackupError', async () => {
    const enc = await encrypt(randomBytes(1000));
    const err = await decrypt(enc, 'not the key').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackupError);
    expect((err as BackupError).code).toBe('K2H_ERR_BACKUP_CRYPTO');
    expect((err as Error).message).not.toContain(PASS);
  });

  it('refuses data without the Salted__ header', async () => {
    const err = await decrypt(randomBytes(64)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackupError);
    expect((err as Error).message).toMatch(/Salted__/);
  });

  it('refuses a truncated header', async () => {
    const err = await decrypt(Buffer.from('Salted__1234')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackupError);
  });
});
