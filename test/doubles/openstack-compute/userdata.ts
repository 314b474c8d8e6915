import { chmodSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

interface WriteFile {
  path?: unknown;
  content?: unknown;
  encoding?: unknown;
  permissions?: unknown;
}

/**
 * Does what cloud-init's write_files module does on a booting VM: every entry of the
 * `#cloud-config` user data is written below `vmRoot`. Trove sends its own document after the
 * datastore's `<manager>.cloudinit` text (taskmanager `_create_server`), so the user data may
 * repeat top-level keys; cloud-init (PyYAML) keeps the last one, and so does this.
 */
export function writeCloudInitFiles(userData: string, vmRoot: string): string[] {
  if (userData.trim() === '') return [];
  const document = parse(userData, { uniqueKeys: false }) as { write_files?: WriteFile[] } | null;
  const written: string[] = [];
  for (const entry of document?.write_files ?? []) {
    const file = entry.path;
    if (typeof file !== 'string' || !file.startsWith('/') || file.split('/').includes('..')) {
      throw new Error(`write_files path must be absolute and plain: ${JSON.stringify(file)}`);
    }
    const content = typeof entry.content === 'string' ? entry.content : '';
    const data = entry.encoding === 'b64' || entry.encoding === 'base64' ? Buffer.from(content, 'base64') : Buffer.from(content, 'utf8');
    const target = path.join(vmRoot, file);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(`${target}.tmp`, data, { mode: 0o600 });
    chmodSync(`${target}.tmp`, Number.parseInt(String(entry.permissions ?? '0600'), 8));
    renameSync(`${target}.tmp`, target);
    written.push(file);
  }
  return written;
}
