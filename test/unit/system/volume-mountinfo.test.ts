import { describe, expect, it } from 'vitest';
import { escapeOctal, findMount, parseMountinfo, unescapeOctal } from '../../../src/system/volume-mountinfo';

// proc(5) format: optional fields (shared:N, master:N) vary in number and end with "-".
const SAMPLE = [
  '22 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro',
  '90 22 7:3 / /var/lib/antpickax/k2hdkc rw,noatime shared:45 master:2 - ext4 /dev/loop3 rw',
  '91 22 7:4 / /mnt/my\\040data rw,noatime - ext4 /dev/loop4 rw',
  '92 90 7:5 / /var/lib/antpickax/k2hdkc rw - xfs /dev/loop5 rw',
  '',
].join('\n');

describe('mountinfo', () => {
  it('parses device id, mount point, type and source with any number of optional fields', () => {
    expect(parseMountinfo(SAMPLE).slice(0, 3)).toEqual([
      { devId: '253:1', mountPoint: '/', fsType: 'ext4', source: '/dev/vda1' },
      { devId: '7:3', mountPoint: '/var/lib/antpickax/k2hdkc', fsType: 'ext4', source: '/dev/loop3' },
      { devId: '7:4', mountPoint: '/mnt/my data', fsType: 'ext4', source: '/dev/loop4' },
    ]);
  });

  it('finds the top of stacked mounts and ignores a trailing slash', () => {
    const entries = parseMountinfo(SAMPLE);
    expect(findMount(entries, '/var/lib/antpickax/k2hdkc/')?.source).toBe('/dev/loop5');
    expect(findMount(entries, '/mnt/my data')?.devId).toBe('7:4');
    expect(findMount(entries, '/srv')).toBeUndefined();
  });

  it('escapes and unescapes whitespace and backslashes', () => {
    expect(escapeOctal('/a b\\c\td')).toBe('/a\\040b\\134c\\011d');
    expect(unescapeOctal(escapeOctal('/a b\\c\td'))).toBe('/a b\\c\td');
  });
});
