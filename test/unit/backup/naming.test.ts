import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { backupObjectName, metadataHeaders, segmentName, troveChecksum } from '../../../src/backup/naming';
import { parseLocation } from '../../../src/backup/swift';

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');

describe('backup object naming (Trove 18 backup image rules)', () => {
  it('names the object <id>.tar.gz, with .enc only when encrypted', () => {
    const id = '0b7e2a4c-1f1e-4d3c-9a55-3c1de0e1b2f0';
    expect(backupObjectName(id, { encrypted: false })).toBe(`${id}.tar.gz`);
    expect(backupObjectName(id, { encrypted: true })).toBe(`${id}.tar.gz.enc`);
    expect(backupObjectName(id, { encrypted: true, extension: '' })).toBe(`${id}.gz.enc`);
  });

  it('names segments after the part before the first dot, %08d', () => {
    expect(segmentName('abc-1.tar.gz.enc', 0)).toBe('abc-1_00000000');
    expect(segmentName('abc-1.tar.gz', 12)).toBe('abc-1_00000012');
    expect(segmentName('abc-1.tar.gz', 123456789)).toBe('abc-1_123456789');
  });

  it('uses the segment MD5 as checksum for one segment', () => {
    expect(troveChecksum([md5('only')])).toBe(md5('only'));
  });

  it('uses the MD5 of the concatenated hex MD5s for several segments (the SLO ETag)', () => {
    const parts = [md5('a'), md5('b'), md5('c')];
    const sum = troveChecksum(parts);
    expect(sum).toBe(md5(parts.join('')));
    expect(sum).toHaveLength(32);
  });

  it('turns metadata keys into X-Object-Meta headers with dashes', () => {
    expect(metadataHeaders({ datastore: 'k2hdkc', datastore_version: '1.0.14' })).toEqual({
      'X-Object-Meta-datastore': 'k2hdkc',
      'X-Object-Meta-datastore-version': '1.0.14',
    });
  });

  it('splits a location into storage URL, container and object as Trove does', () => {
    expect(parseLocation('http://swift:8080/v1/AUTH_p/database_backups/id.tar.gz')).toEqual({
      storageUrl: 'http://swift:8080/v1/AUTH_p', container: 'database_backups', name: 'id.tar.gz',
    });
    expect(() => parseLocation('id.tar.gz')).toThrow(/storage_url/);
  });
});
