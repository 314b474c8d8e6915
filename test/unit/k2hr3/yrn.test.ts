import { describe, expect, it } from 'vitest';
import { K2hr3Error } from '../../../src/errors';
import { buildYrn, parseYrn, roleToResourceYrn, yrnUrlPath } from '../../../src/k2hr3/yrn';

describe('yrn', () => {
  it('builds and parses tenant YRNs with an empty service', () => {
    const y = buildYrn('demo', 'role', 'c1/server');
    expect(y).toBe('yrn:yahoo:::demo:role:c1/server');
    expect(parseYrn(y)).toEqual({ tenant: 'demo', kind: 'role', path: 'c1/server' });
  });

  it('maps a role to the resource of the same path', () => {
    expect(roleToResourceYrn('yrn:yahoo:::demo:role:c1/slave')).toBe('yrn:yahoo:::demo:resource:c1/slave');
  });

  it('refuses names that would change the URL', () => {
    for (const path of ['../x', 'a b', 'a?b', 'a#b', 'a/../b', '']) {
      expect(() => buildYrn('demo', 'role', path)).toThrow(K2hr3Error);
    }
    expect(parseYrn('yrn:yahoo:svc::demo:role:c1')).toBeUndefined();
  });

  it('keeps colons and slashes in URL paths', () => {
    expect(yrnUrlPath('yrn:yahoo:::demo:role:c1/server')).toBe('yrn:yahoo:::demo:role:c1/server');
  });
});
