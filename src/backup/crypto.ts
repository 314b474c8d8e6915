import { createCipheriv, createDecipheriv, pbkdf2, randomBytes, type Decipher } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { promisify } from 'node:util';
import { BackupError } from '../errors';

const pbkdf2Async = promisify(pbkdf2);

/*
 * The format Trove 18 writes and reads with
 * `openssl enc [-d] -aes-256-cbc -md sha512 -pbkdf2 -iter 10000 -salt -pass pass:<key>`
 * (backup/drivers/base.py encrypt_cmd/decrypt_cmd): "Salted__", an 8-byte salt, then AES-256-CBC
 * with PKCS#7 padding. Key (32 bytes) and IV (16 bytes) are the 48 bytes of
 * PBKDF2-HMAC-SHA512(passphrase, salt, 10000).
 */
const MAGIC = Buffer.from('Salted__', 'latin1');
const SALT_BYTES = 8;
const HEADER_BYTES = MAGIC.length + SALT_BYTES;
const ITERATIONS = 10_000;

async function deriveKeyIv(passphrase: string, salt: Buffer): Promise<{ key: Buffer; iv: Buffer }> {
  const out = await pbkdf2Async(Buffer.from(passphrase, 'utf8'), salt, ITERATIONS, 48, 'sha512');
  return { key: out.subarray(0, 32), iv: out.subarray(32, 48) };
}

/** A Transform producing `openssl enc -aes-256-cbc -md sha512 -pbkdf2 -iter 10000 -salt` output. */
export function createEncryptStream(passphrase: string, salt: Buffer = randomBytes(SALT_BYTES)): Transform {
  if (salt.length !== SALT_BYTES) throw new BackupError('CRYPTO', 'the salt must be 8 bytes');
  const cipherReady = deriveKeyIv(passphrase, salt).then(({ key, iv }) => createCipheriv('aes-256-cbc', key, iv));
  let headerSent = false;
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      cipherReady.then(
        (cipher) => {
          if (!headerSent) {
            this.push(Buffer.concat([MAGIC, salt]));
            headerSent = true;
          }
          cb(null, cipher.update(chunk));
        },
        (err: unknown) => cb(cryptoError('could not derive the backup encryption key', err)),
      );
    },
    flush(cb: TransformCallback) {
      cipherReady.then(
        (cipher) => {
          if (!headerSent) this.push(Buffer.concat([MAGIC, salt]));
          cb(null, cipher.final());
        },
        (err: unknown) => cb(cryptoError('could not derive the backup encryption key', err)),
      );
    },
  });
}

/** A Transform reading what {@link createEncryptStream} or `openssl enc` wrote; fails on a wrong key. */
export function createDecryptStream(passphrase: string): Transform {
  let header = Buffer.alloc(0);
  let decipher: Decipher | undefined;
  const start = async (): Promise<void> => {
    if (!header.subarray(0, MAGIC.length).equals(MAGIC)) {
      throw new BackupError('CRYPTO', 'the backup is not encrypted in the openssl "Salted__" format');
    }
    const { key, iv } = await deriveKeyIv(passphrase, header.subarray(MAGIC.length, HEADER_BYTES));
    decipher = createDecipheriv('aes-256-cbc', key, iv);
  };
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      if (decipher) {
        cb(null, decipher.update(chunk));
        return;
      }
      header = Buffer.concat([header, chunk]);
      if (header.length < HEADER_BYTES) {
        cb();
        return;
      }
      start().then(
        () => {
          const rest = header.subarray(HEADER_BYTES);
          cb(null, decipher ? decipher.update(rest) : undefined);
        },
        (err: unknown) => cb(cryptoError('could not start decrypting the backup', err)),
      );
    },
    flush(cb: TransformCallback) {
      if (!decipher) {
        cb(new BackupError('CRYPTO', 'the encrypted backup is shorter than its header'));
        return;
      }
      try {
        cb(null, decipher.final());
      } catch (err) {
        // A bad final block almost always means the wrong key; OpenSSL says "bad decrypt".
        cb(cryptoError('could not decrypt the backup (wrong key or damaged data)', err));
      }
    },
  });
}

function cryptoError(message: string, err: unknown): BackupError {
  if (err instanceof BackupError) return err;
  return new BackupError('CRYPTO', message, { cause: err });
}
